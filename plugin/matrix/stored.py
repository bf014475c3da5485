"""A matrix read back from the source files stored when it went live (the `matrices` table)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..domain.errors import Problem
from ..domain.matrix import Matrix
from .loader import MATRIX_FILE, read_matrix
from .yamlsrc import YamlSyntaxError, load_yaml


def matrix_from_files(files: dict[str, str]) -> tuple[Matrix | None, list[Problem]]:
    """Parse stored sources (relative path -> text) as the loader would parse a rules directory."""
    with tempfile.TemporaryDirectory(prefix="matrix-") as folder:
        root = Path(folder)
        for relative, text in files.items():
            target = (root / relative).resolve()
            if not target.is_relative_to(root.resolve()):
                continue        # stored paths are ours, but a path out of the folder is never written
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        matrix, source = read_matrix(root)
        for problem in source.problems:
            problem.file = _relative(problem.file, root)
    return matrix, source.problems


def _relative(file: str, root: Path) -> str:
    """A problem names the file as an admin knows it, not the scratch folder it was read from."""
    try:
        return str(Path(file).resolve().relative_to(root.resolve()))
    except ValueError:
        return file


def declared_version(text: str) -> str:
    """The matrix's own `version:` (free text, e.g. 2026.11), or '' when it has none or does not parse."""
    try:
        data = load_yaml(MATRIX_FILE, text).data
    except YamlSyntaxError:
        return ""
    value = data.get("version", "") if isinstance(data, dict) else ""
    return str(value) if value is not None else ""
