"""The GATEWAY_* environment variables, derived from the Settings model itself.

Deployment files and the README must name only (and, for the README, all of)
these; deriving them here means a new setting is noticed without editing tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.settings import Settings


@dataclass(frozen=True)
class SettingVar:
    env: str
    path: str  # "oidc.issuer"
    default: Any


def setting_vars() -> dict[str, SettingVar]:
    """Every leaf setting by environment variable name: GATEWAY_OIDC__ISSUER -> oidc.issuer."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    delimiter = str(Settings.model_config.get("env_nested_delimiter", "__"))
    found: dict[str, SettingVar] = {}
    for name, field in Settings.model_fields.items():
        section = _model_of(field)
        if section is None:
            env = f"{prefix}{name}".upper()
            found[env] = SettingVar(env, name, field.get_default(call_default_factory=True))
            continue
        for sub_name, sub_field in section.model_fields.items():
            env = f"{prefix}{name}{delimiter}{sub_name}".upper()
            default = sub_field.get_default(call_default_factory=True)
            found[env] = SettingVar(env, f"{name}.{sub_name}", default)
    return found


def _model_of(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
