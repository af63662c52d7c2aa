"""The ``RAG_*`` variables the code reads, derived from its pydantic-settings classes.

Every module of the service's packages is imported (none has import-time side effects), then
every ``BaseSettings`` subclass defined in them is read: its ``env_prefix``, its fields (aliases
and nested groups included), and each field's default. Nothing is grepped, so the set follows the
code wherever a settings class moves.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

PACKAGES = ("rag", "api", "ingest", "eval")


@dataclass(frozen=True)
class SettingVar:
    name: str
    owner: str
    default: Any


def _import_all() -> None:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if info.name.endswith("__main__") or ".migrations" in info.name:
                continue  # __main__ runs a CLI; Alembic's env.py runs migrations
            importlib.import_module(info.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class defined in the service's packages."""
    _import_all()
    return [
        cls
        for cls in dict.fromkeys(_subclasses(BaseSettings))
        if cls.__module__.split(".")[0] in PACKAGES
    ]


def _default(field: FieldInfo) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    return None  # a default_factory (lists, dicts): documented in words


def _names(prefix: str, name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0]).upper()]
    return [f"{prefix}{name}".upper()]


def _fields(cls: type[BaseSettings]) -> list[SettingVar]:
    prefix = cls.model_config.get("env_prefix", "")
    delimiter = cls.model_config.get("env_nested_delimiter")
    found = []
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        for env_name in _names(prefix, name, field):
            if nested and delimiter:
                for sub_name, sub_field in annotation.model_fields.items():
                    var = f"{env_name}{delimiter}{sub_name}".upper()
                    found.append(SettingVar(var, cls.__qualname__, _default(sub_field)))
            else:
                found.append(SettingVar(env_name, cls.__qualname__, _default(field)))
    return found


def setting_vars() -> dict[str, SettingVar]:
    """Environment variable -> where it is read and its default, for every settings class."""
    found: dict[str, SettingVar] = {}
    for cls in settings_classes():
        for var in _fields(cls):
            found.setdefault(var.name, var)
    return found


def render_default(value: Any) -> str | None:
    """How a scalar default is written in the reference (None: described in words)."""
    if value is None or isinstance(value, SecretStr | list | dict | tuple):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)
