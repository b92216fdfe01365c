"""Which services are DEEPaaS models, and their predict arguments, asked once per definition.

A service is a DEEPaaS one when its script calls ``deepaas-cli`` or it is
annotated ``oscar-gateway/ui: deepaas``.  Its arguments come from the
``oscar-gateway/deepaas-schema`` annotation when the site provides one, else
from the model itself: ``{"help": ""}`` is sent to ``/run`` (the script passes
the key on as ``--help``) and argparse's answer is parsed.  The result is kept
per definition hash, so a redeployed model is asked again.
"""

from __future__ import annotations

from collections import OrderedDict

import anyio

from core.errors import InvalidInput, UpstreamError
from oscar.client import OscarClient
from oscar.models import Service
from oscar.payloads import decode_output, encode_body
from uis.deepaas.arguments import PredictArg, from_help, from_schema
from uis.spec import PREFIX, calls_deepaas_cli, definition_hash

SCHEMA_ANNOTATION = f"{PREFIX}deepaas-schema"
_MAX_ENTRIES = 256


def is_deepaas(service: Service) -> bool:
    """True for a DEEPaaS model service (its script or its ``ui`` annotation says so)."""
    if service.annotations.get(f"{PREFIX}ui", "").strip() == "deepaas":
        return True
    return calls_deepaas_cli(service)


class PredictArgsCache:
    """The predict arguments of DEEPaaS services, by definition hash (one per gateway)."""

    def __init__(self) -> None:
        self._known: OrderedDict[str, tuple[PredictArg, ...]] = OrderedDict()
        self._lock = anyio.Lock()

    async def arguments(
        self, oscar: OscarClient, service: Service, *, auth: str
    ) -> tuple[PredictArg, ...]:
        """The model's predict arguments; asked of the service itself at most once per hash."""
        raw = service.annotations.get(SCHEMA_ANNOTATION, "").strip()
        if raw:
            try:
                return from_schema(raw)
            except ValueError as exc:
                raise InvalidInput(f"{SCHEMA_ANNOTATION} is not a usable schema ({exc}).") from exc
        key = definition_hash(service)
        async with self._lock:
            if key not in self._known:
                self._known[key] = await _ask_help(oscar, service, auth)
                while len(self._known) > _MAX_ENTRIES:
                    self._known.popitem(last=False)
            self._known.move_to_end(key)
            return self._known[key]


async def _ask_help(oscar: OscarClient, service: Service, auth: str) -> tuple[PredictArg, ...]:
    raw = await oscar.run(service.name, encode_body({"help": ""}), auth=auth)
    output = decode_output(raw)
    args = from_help(output.text)
    if not args:
        raise UpstreamError(
            f"The DEEPaaS service {service.name!r} did not list its predict arguments "
            f"when asked for --help; annotate it with {SCHEMA_ANNOTATION}."
        )
    return args
