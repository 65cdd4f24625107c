"""Typed configs: dataclasses loaded from YAML, with ``key=value`` overrides.

A config class is a plain (possibly nested) dataclass whose fields carry defaults and a
one-line reason. ``load_config`` merges the YAML file (over its ``base`` config, when it names
one), then the overrides, then validates
the whole with pydantic (types coerced, unknown keys rejected), so a typo fails loudly at
start-up instead of silently training the wrong model. ``save_config`` writes the resolved
config into a run directory.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from altsa.errors import ConfigError

C = TypeVar("C")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"model.fusion.heads=8"`` -> (["model", "fusion", "heads"], 8). Values parse as YAML."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (creating sub-dicts as needed)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return data


def _forbid_extra(cls: type) -> None:
    """Make pydantic reject unknown keys for a dataclass and its nested dataclasses."""
    if not dataclasses.is_dataclass(cls) or "__pydantic_config__" in cls.__dict__:
        return
    cls.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    for f in dataclasses.fields(cls):
        if isinstance(f.type, type):
            _forbid_extra(f.type)


def from_dict(cls: type[C], data: dict[str, Any], *, source: str = "config") -> C:
    """Validate a plain dict into the config dataclass ``cls``."""
    _forbid_extra(cls)
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise ConfigError(f"{source}: {loc}: {first['msg']}{more}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain data (paths become strings), ready for YAML/JSON."""
    return TypeAdapter(type(config)).dump_python(config, mode="json")


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def shipped_configs() -> list[str]:
    """Names of the configs shipped inside the package (``altsa/configs/*.yaml``)."""
    folder = resources.files("altsa") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A YAML path, or the name of a shipped config (e.g. ``embedded-frozen``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = resources.files("altsa") / "configs" / f"{name_or_path}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    raise ConfigError(
        f"no config file {str(name_or_path)!r} and no shipped config of that name "
        f"(shipped: {', '.join(shipped_configs()) or 'none'})"
    )


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: sections merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config_file(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping, with ``base: NAME_OR_PATH`` resolved: the base config (a shipped
    name, or a path relative to this file) is read first and this file merged over it, so a
    config for a new corpus names only what differs (``base: embedded-frozen`` + a data section)."""
    data = read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base must name a config (a shipped name or a YAML path), not {base!r}")
    local = path.parent / base
    base_path = local if local.is_file() else resolve_config_path(base)
    if base_path.resolve() in _seen + (path.resolve(),):
        raise ConfigError(f"{path}: base {base!r} leads back to itself")
    return merge(read_config_file(base_path, _seen + (path.resolve(),)), data)


def load_config(cls: type[C], name_or_path: str | Path | None, overrides: list[str] | None = None) -> C:
    """YAML file (or shipped name, with its ``base`` chain) + overrides -> validated ``cls`` instance."""
    data = read_config_file(resolve_config_path(name_or_path)) if name_or_path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return from_dict(cls, data, source=str(name_or_path or "config"))


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from altsa.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
