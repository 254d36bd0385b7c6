"""Typed family configs: one dataclass per family holds every key, default, type and range.

A family's config class is a flat dataclass whose fields are declared with
:func:`param`; each field says which config section it lives in (``data``,
``model``, ``augmentation``, ``loss``, ``train``...), its YAML key (the field
name unless given), its range and its description. From it:

* :func:`family_schema` generates the JSON schema of the family (ranges are
  checked there and nowhere else);
* :func:`from_sections` maps an experiment's config sections to an instance
  (the one way to go from config to dataclass);
* the family's optional ``check()`` method holds the cross-field rules
  (e.g. ``d <= d1``), run for every sweep point before any job.

``config/config.yaml`` must agree with these defaults (``tests/test_config.py``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, field
from typing import Any

# Keys every experiment has, outside the sections.
TOP_LEVEL = ("activate", "family", "n_seeds", "fuse", "claims", "sweep")


def param(
    default: Any,
    section: str,
    doc: str,
    *,
    key: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    choices: tuple | None = None,
    const: bool = False,
    max_items: int | None = None,
) -> Any:
    """A config field: its default, section, description and range.

    Args:
        default: the default value (one source of defaults).
        section: config section, e.g. ``"train"``.
        doc: one-line description (goes into the schema and the docs).
        key: YAML key inside the section (default: the field name).
        minimum, maximum, exclusive_minimum, exclusive_maximum: numeric range.
        choices: allowed values (an enum).
        const: the value cannot be changed (documents a fixed choice).
        max_items: for list-valued fields, the maximum length.
    """
    meta = {
        "section": section,
        "doc": doc,
        "key": key,
        "minimum": minimum,
        "maximum": maximum,
        "exclusiveMinimum": exclusive_minimum,
        "exclusiveMaximum": exclusive_maximum,
        "enum": list(choices) if choices is not None else None,
        "const": const,
        "maxItems": max_items,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or f.name


def fields_by_section(cls: type) -> dict[str, list[dataclasses.Field]]:
    """``{section: [fields]}`` in declaration order."""
    out: dict[str, list[dataclasses.Field]] = {}
    for f in dataclasses.fields(cls):
        if "section" in f.metadata:
            out.setdefault(f.metadata["section"], []).append(f)
    return out


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _json_type(tp: Any) -> tuple[list[str], dict]:
    """JSON-schema types of a Python annotation, plus item schema for lists."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        out: list[str] = []
        items: dict = {}
        for arg in typing.get_args(tp):
            t, it = _json_type(arg)
            out += t
            items = items or it
        return out, items
    if tp is type(None):
        return ["null"], {}
    if origin is list:
        (arg,) = typing.get_args(tp)
        t, _ = _json_type(arg)
        return ["array"], {"type": t if len(t) > 1 else t[0]}
    if tp in _JSON_TYPES:
        # a float field accepts integers too (1 is a fine learning rate)
        return [_JSON_TYPES[tp]], {}
    raise TypeError(f"unsupported config field type {tp!r}")


def field_schema(cls: type, f: dataclasses.Field) -> dict:
    """JSON schema of one field (type, range, default, description)."""
    hints = typing.get_type_hints(cls)
    types_, items = _json_type(hints[f.name])
    meta = f.metadata
    sch: dict[str, Any] = {"type": types_[0] if len(types_) == 1 else types_}
    if items:
        sch["items"] = items
        sch["minItems"] = 1
        if meta.get("maxItems"):
            sch["maxItems"] = meta["maxItems"]
    for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if meta.get(k) is not None:
            if items:
                sch["items"][k] = meta[k]
            else:
                sch[k] = meta[k]
    default = default_of(f)
    if meta.get("const"):
        sch["const"] = default
    elif meta.get("enum") is not None:
        sch["enum"] = meta["enum"] + ([None] if "null" in types_ else [])
    sch["default"] = default
    sch["description"] = meta["doc"]
    return sch


def family_schema(name: str, title: str, cls: type) -> dict:
    """The JSON schema of one family's experiment block."""
    props: dict[str, Any] = {
        "activate": {
            "type": "boolean",
            "default": True,
            "description": "false skips the experiment.",
        },
        "family": {"const": name},
        "n_seeds": {
            "oneOf": [
                {"type": ["integer", "null"], "minimum": 1, "maximum": 1024},
                {"$ref": "#/$defs/n_seeds_auto"},
            ],
            "default": None,
            "description": "Seeds of this experiment (a number, or {start, step, max}: "
            "seeds added in stages until its claims are decided); null = the top-level "
            "n_seeds.",
        },
        "claims": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "uniqueItems": True,
            "default": None,
            "description": "Names of the family's claims this experiment tests; null = all "
            "(a claim whose numbers do not depend on the experiment, e.g. an analytic one, "
            "is best tested by one experiment only).",
        },
        "fuse": {
            "enum": ["auto", "none", None],
            "default": None,
            "description": "Fusing of this experiment's sweep points; null = the top-level fuse.",
        },
    }
    for section, flds in fields_by_section(cls).items():
        props[section] = {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "properties": {_key(f): field_schema(cls, f) for f in flds},
        }
    props["sweep"] = {"$ref": "#/$defs/sweep"}
    return {
        "type": "object",
        "description": title,
        "additionalProperties": False,
        "required": ["family"],
        "properties": props,
    }


def from_sections(cls: type, exp: dict) -> Any:
    """Build ``cls`` from an experiment's sections (``{"data": {...}, "train": {...}}``).

    Keys absent from ``exp`` keep their defaults; unknown keys are an error
    (the schema rejects them first, with the key named).
    """
    kwargs = {}
    by_section = fields_by_section(cls)
    for section, values in exp.items():
        if section in TOP_LEVEL:
            continue
        if section not in by_section:
            raise ValueError(f"unknown config section {section!r}; known: {sorted(by_section)}")
        keys = {_key(f): f.name for f in by_section[section]}
        for k, v in (values or {}).items():
            if k not in keys:
                raise ValueError(f"unknown key {section}.{k}; known: {sorted(keys)}")
            kwargs[keys[k]] = v
    return cls(**kwargs)


def to_sections(cfg: Any) -> dict:
    """The inverse of :func:`from_sections`: ``{section: {key: value}}``."""
    out: dict[str, dict] = {}
    for section, flds in fields_by_section(type(cfg)).items():
        out[section] = {_key(f): getattr(cfg, f.name) for f in flds}
    return out


def defaults(cls: type) -> dict:
    """``{section: {key: default}}`` of a config class."""
    return {
        section: {_key(f): default_of(f) for f in flds}
        for section, flds in fields_by_section(cls).items()
    }
