"""The OpenAPI description of `/api`: `openapi/base.yaml` and one fragment per area, merged into one document.

Each area describes its own routes in `openapi/<area>.yaml` (`paths:` and `components:`), so people
adding routes in parallel never edit the same file. A path or component named twice is an error
naming both files, never a silent override. Served at `GET /api/openapi.json`, with no credential:
it holds no data.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from flask import Blueprint, jsonify

from plugin.matrix.yamlsrc import duplicate_keys

FOLDER = Path(__file__).parent / "openapi"
BASE = "base.yaml"
FRAGMENT_KEYS = {"paths", "components"}

openapi = Blueprint("openapi", __name__)


class SpecError(ValueError):
    """The fragments do not merge into one document; the message names the files."""


@openapi.get("/api/openapi.json")
def document():
    return jsonify(spec())


@cache
def spec() -> dict:
    """The merged document (read once per process)."""
    return merge(FOLDER)


def merge(folder: Path) -> dict:
    """base.yaml, then every other fragment of `folder` in file name order."""
    document = _load(folder / BASE)
    document.setdefault("paths", {})
    document.setdefault("components", {})
    origin = {entry: BASE for entry in _entries(document)}
    for path in sorted(folder.glob("*.yaml")):
        if path.name != BASE:
            _add(document, _load(path), path.name, origin)
    return document


def _add(document: dict, fragment: dict, name: str, origin: dict) -> None:
    unknown = sorted(set(fragment) - FRAGMENT_KEYS)
    if unknown:
        raise SpecError(f"{name}: a fragment holds only paths and components, not {', '.join(unknown)}")
    for entry in _entries(fragment):
        if entry in origin:
            raise SpecError(f"{' '.join(entry)} is described in both {origin[entry]} and {name}")
        origin[entry] = name
    document["paths"].update(fragment.get("paths") or {})
    for kind, named in (fragment.get("components") or {}).items():
        document["components"].setdefault(kind, {}).update(named)


def _entries(document: dict) -> list[tuple[str, ...]]:
    """What a file names: ("path", "/api/x") and ("schemas", "Name"), ("responses", "Name"), ..."""
    paths = [("path", p) for p in document.get("paths") or {}]
    return paths + [(kind, name) for kind, named in (document.get("components") or {}).items() for name in named]


def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    repeated = duplicate_keys(text)
    if repeated:
        where = ", ".join(f"{'.'.join(map(str, keys))} (line {line})" for keys, line in repeated)
        raise SpecError(f"{path.name}: repeated key(s) {where}")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise SpecError(f"{path.name}: expected a mapping at the top")
    _check_json(loaded, path.name, ())
    return loaded


def _check_json(node, name: str, where: tuple) -> None:
    """Only what JSON holds: YAML reads an unquoted 200 as a number and 2026-12-31 as a date, which the
    served document could not carry (and a number among string keys cannot even be sorted)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise SpecError(f"{name}: quote the key {key!r} under {'.'.join(where) or 'the top'} ('{key}')")
            _check_json(value, name, (*where, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _check_json(item, name, (*where, str(index)))
    elif not isinstance(node, str | int | float | bool | type(None)):
        raise SpecError(f"{name}: quote the value {node!s} at {'.'.join(where)}; "
                        f"YAML read it as a {type(node).__name__}")
