"""Find the UI of a service: a custom module in ``uis/custom/`` by name, else the generic one.

A custom UI is a module ``uis/custom/<name with - as _>.py`` with ``API_NAME``
(the Gradio api_name of its main event) and one builder function
``build(ctx: ServiceContext) -> gr.Blocks``.  It is chosen by the
``oscar-gateway/ui`` annotation, or by the service's own name when a module of
that name exists.  Adding one touches nothing else.  Importing a custom module
must not import gradio (the portal reads ``API_NAME`` without it).

A DEEPaaS model (AI4EOSC) gets ``uis/custom/deepaas.py`` when annotated
``oscar-gateway/ui: deepaas`` or when its script runs ``deepaas-cli``.

A module may also define ``async def prepare(ctx, service, *, auth)``: what the
UI needs from OSCAR before it is built (the DEEPaaS model's ``--help``).  The
gateway awaits it with the first admitted caller's ``Authorization`` before
building, because the build itself runs without a caller (``gateway/mounts``).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

from oscar.models import Service
from uis import generated
from uis.spec import PREFIX, UISpec

if TYPE_CHECKING:
    import gradio as gr

    from uis.handlers import ServiceContext

PACKAGE = "uis.custom"
DEEPAAS_UI = "deepaas"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def custom_module(name: str) -> ModuleType | None:
    """The custom UI module called ``name``, or None when there is none."""
    if not _NAME.match(name):
        return None
    module_name = f"{PACKAGE}.{name.replace('-', '_')}"
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name)


def resolve(spec: UISpec) -> tuple[ModuleType, UISpec]:
    """The module building ``spec``'s UI, and the spec (plus a problem for an unknown name)."""
    if spec.custom_ui:
        module = custom_module(spec.custom_ui)
        if module is not None:
            return module, spec
        problem = f"{PREFIX}ui: no custom UI called {spec.custom_ui!r}; the generic UI is used"
        return generated, replace(spec, problems=(*spec.problems, problem))
    if spec.deepaas:
        return _deepaas(), spec
    return custom_module(spec.service) or generated, spec


def _deepaas() -> ModuleType:
    module = custom_module(DEEPAAS_UI)
    assert module is not None, "uis/custom/deepaas.py is part of the package"
    return module


async def prepare(ctx: ServiceContext, service: Service, *, auth: str) -> None:
    """Run the UI module's ``prepare`` hook, if it has one, with a caller's credential."""
    module, _ = resolve(ctx.spec)
    hook = getattr(module, "prepare", None)
    if hook is not None:
        await hook(ctx, service, auth=auth)


def api_name(spec: UISpec) -> str:
    """The Gradio api_name of the service's main event (for ``/gradio_api/call/<api_name>``)."""
    module, _ = resolve(spec)
    return str(module.API_NAME)


def build(ctx: ServiceContext) -> gr.Blocks:
    """Build the Gradio app of ``ctx.spec`` with its custom or generic builder."""
    module, spec = resolve(ctx.spec)
    ctx.spec = spec
    blocks: gr.Blocks = module.build(ctx)
    return blocks
