"""Import boundaries: the domain core needs only the standard library, and only the durable
engine module touches durable_rules, so replacing the engine stays a one-module change."""
import ast
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent.parent / "plugin"
DOMAIN = PLUGIN / "domain"
DURABLE_PACKAGES = {"durable", "durable_rules_engine"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PLUGIN.parent) -> set[str]:
    """Absolute names of every module `path` (under `root`) imports, relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            names.add(f"{base}.{node.module}" if node.module else base)
    return names


def top_level(name: str) -> str:
    return name.partition(".")[0]


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_only_the_standard_library_and_the_domain(path):
    outside = {name for name in imported_modules(path)
               if top_level(name) not in sys.stdlib_module_names
               and name != "plugin.domain" and not name.startswith("plugin.domain.")}

    assert outside == set()


def test_only_the_durable_engine_module_imports_durable_rules():
    importers = {path.relative_to(PLUGIN.parent).as_posix() for path in PLUGIN.rglob("*.py")
                 if {top_level(name) for name in imported_modules(path)} & DURABLE_PACKAGES}

    assert importers == {"plugin/engine/durable.py"}


@pytest.mark.parametrize("source, imported", [
    ("from .matrix import Matrix", {"plugin.domain.matrix"}),
    ("from . import fields", {"plugin.domain"}),
    ("from ..engine import durable", {"plugin.engine"}),
    ("import yaml.constructor", {"yaml.constructor"}),
    ("from __future__ import annotations", {"__future__"}),
])
def test_import_check_resolves_relative_imports(tmp_path, source, imported):
    module = tmp_path / "plugin" / "domain" / "example.py"
    module.parent.mkdir(parents=True)
    module.write_text(source + "\n")

    assert imported_modules(module, root=tmp_path) == imported
