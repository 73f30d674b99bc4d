"""Turning pydantic's JSON Schema into a Kubernetes *structural* OpenAPI v3 schema.

The API server accepts only structural schemas: every field has a ``type`` outside of
``anyOf``/``oneOf``, and those junctors carry value checks only. Pydantic's output differs in
four ways, each handled here:

* ``$ref``/``$defs`` are inlined (the API server has no references);
* ``Optional[X]`` (``anyOf [X, null]``) becomes ``X`` with ``nullable: true``;
* a discriminated union (``oneOf`` + ``discriminator``) becomes one object declaring every
  variant's fields, plus a ``oneOf`` of value checks per variant, so the server still rejects a
  missing required field or a wrong enum for the chosen ``type``;
* values with no single type (``Any``, ``str | Model``) keep their data with
  ``x-kubernetes-preserve-unknown-fields``; the engine's models check them.

Defaults are dropped: the engine applies them, and the API server would otherwise write them
into every stored object.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
# Keys a structural schema forbids inside anyOf/oneOf/allOf/not.
_JUNCTOR_FORBIDDEN = frozenset(
    {"type", "description", "default", "nullable", "additionalProperties", "title", PRESERVE}
)
_DROPPED = frozenset({"title", "default", "discriminator", "$defs"})


def structural(schema: Schema) -> Schema:
    """The structural equivalent of a pydantic model's ``model_json_schema()``."""
    return _convert(schema, schema.get("$defs", {}))


def _convert(node: Schema, defs: Schema) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _convert({**target, **siblings}, defs)
    for junctor in ("anyOf", "oneOf"):
        if junctor in node:
            return _union(node, node[junctor], defs)
    if not node or (node.get("type") is None and "const" not in node and "enum" not in node):
        return _preserve(node)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or key == "additionalProperties":
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value
    if "type" not in out and "enum" in out:
        out["type"] = "string"
    extra = node.get("additionalProperties")
    if out.get("type") == "object" and "properties" not in out:
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _convert(extra, defs)
        else:
            out[PRESERVE] = True
    return out


def _preserve(node: Schema) -> Schema:
    out: Schema = {PRESERVE: True}
    if "description" in node:
        out["description"] = node["description"]
    return out


def _union(node: Schema, options: list[Schema], defs: Schema) -> Schema:
    extra = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", *_DROPPED)}
    non_null = [o for o in options if o.get("type") != "null"]
    nullable = len(non_null) < len(options)
    variants = [_convert(option, defs) for option in non_null]
    if len(variants) == 1:
        merged = variants[0]
    elif all(v.get("type") == "object" and "properties" in v for v in variants):
        merged = _merge_objects(variants)
        merged["oneOf"] = [_checks_only(v) for v in variants]
    else:
        return _preserve(extra)
    merged = {**merged, **extra}
    if nullable and "enum" not in merged:
        merged["nullable"] = True
    return merged


def _merge_objects(variants: list[Schema]) -> Schema:
    properties: dict[str, Schema] = {}
    for variant in variants:
        for name, sub in variant["properties"].items():
            properties[name] = _merge(properties[name], sub) if name in properties else sub
    required = [
        name
        for name in variants[0].get("required", [])
        if all(name in v.get("required", []) for v in variants)
    ]
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _merge(a: Schema, b: Schema) -> Schema:
    """One schema accepting what either accepts (the per-variant checks narrow it again)."""
    if a == b:
        return a
    if a.get(PRESERVE) or b.get(PRESERVE) or a.get("type") != b.get("type"):
        return _preserve(a)
    if a.get("type") == "object" and "properties" in a and "properties" in b:
        merged = _merge_objects([a, b])
        merged.pop("required", None)
        if "description" in a:
            merged["description"] = a["description"]
        return merged
    out: Schema = {"type": a["type"]}
    if "enum" in a and "enum" in b:
        out["enum"] = list(dict.fromkeys([*a["enum"], *b["enum"]]))
    if a.get("type") == "array" and "items" in a and "items" in b:
        out["items"] = _merge(a["items"], b["items"])
    for key in ("description", "nullable", "additionalProperties", PRESERVE):
        if key in a and a.get(key) == b.get(key):
            out[key] = a[key]
    return out


def _checks_only(node: Schema) -> Schema:
    """``node`` without the keys a junctor may not hold, recursively; what is left checks values."""
    out: Schema = {}
    for key, value in node.items():
        if key in _JUNCTOR_FORBIDDEN or key in ("oneOf", "anyOf"):
            continue
        if key == "properties":
            checked = {name: _checks_only(sub) for name, sub in value.items()}
            checked = {name: sub for name, sub in checked.items() if sub}
            if checked:
                out["properties"] = checked
        elif key == "items":
            items = _checks_only(value)
            if items:
                out["items"] = items
        else:
            out[key] = value
    return out
