"""The syntax of an OSCAR service name, checked before a name goes into a path or a URL.

OSCAR accepts 1-39 lowercase letters, digits and ``-``, starting and ending with
a letter or digit (a DNS-1123 label with room for the suffixes OSCAR adds;
oscar-api.md §3, oscar_local/fdl.py).  Anything else names no service: the
gateway answers 404 without asking OSCAR, and never echoes it into a redirect.
"""

from __future__ import annotations

import re

SERVICE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,37}[a-z0-9])?")


def is_service_name(name: str) -> bool:
    """Could ``name`` be an OSCAR service's name?"""
    return SERVICE_NAME.fullmatch(name) is not None
