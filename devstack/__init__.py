"""Launchers for the local stack (OIDC provider, local OSCAR, gateway, Redis, Nginx).

Used by ``make demo`` and by the test fixtures, so both run the same processes.
"""
