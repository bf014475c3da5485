"""Load `rules/`: read the YAML, validate it against the shipped schema, parse it into a Matrix.

Every problem found is collected (not just the first) and names the file, the line, the YAML
path and what to write instead, so an admin can fix a matrix in one pass.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jsonschema

from ..domain.errors import MatrixError, Problem
from ..domain.matrix import Matrix
from .parse import MatrixParser
from .yamlsrc import YamlDoc, YamlSyntaxError, duplicate_keys, load_yaml, path_text

MATRIX_FILE = "matrix.yaml"
TEMPLATES_DIR = "templates"
TESTS_DIR = "tests"
_DURATION_PATTERN = "^([0-9]+[smhdw])+$"


@dataclass
class MatrixSource:
    """Where a matrix lives on disk, and what it was read from."""
    root: Path
    doc: YamlDoc | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def matrix_file(self) -> Path:
        return self.root / MATRIX_FILE if self.root.is_dir() else self.root

    @property
    def rules_dir(self) -> Path:
        return self.root if self.root.is_dir() else self.root.parent

    @property
    def templates_dir(self) -> Path:
        return self.rules_dir / TEMPLATES_DIR

    @property
    def tests_dir(self) -> Path:
        return self.rules_dir / TESTS_DIR

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)


def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text())


def load_matrix(root: str | Path) -> Matrix:
    """The matrix in `root` (a rules directory or a matrix file); MatrixError if it is not valid."""
    matrix, source = read_matrix(root)
    errors = [p for p in source.problems if p.severity == "error"]
    if errors:
        raise MatrixError(errors)
    return matrix


def read_matrix(root: str | Path) -> tuple[Matrix | None, MatrixSource]:
    """Parse as far as possible and return the matrix (None on errors) with every problem found."""
    source = MatrixSource(Path(root))
    file_name = source.display(source.matrix_file)
    if not source.matrix_file.is_file():
        source.problems.append(Problem(
            f"no matrix found at {file_name}", file=file_name,
            fix=f"point to a rules directory that holds {MATRIX_FILE}, e.g. `escalator check rules/`"))
        return None, source
    text = source.matrix_file.read_text(encoding="utf-8")
    try:
        source.doc = load_yaml(file_name, text)
    except YamlSyntaxError as exc:
        source.problems.append(Problem(f"YAML syntax: {exc.message}", file=file_name, line=exc.line,
                                       fix="fix the indentation or quoting on that line"))
        return None, source
    source.problems += [Problem(f"key {path[-1]!r} appears twice in the same mapping", file=file_name,
                                path=path_text(path), line=line,
                                fix="merge the two; YAML keeps only the last one and drops the first silently")
                        for path, line in duplicate_keys(text)]
    source.problems += schema_problems(source.doc)
    if source.problems:
        return None, source
    parser = MatrixParser(source.doc, source.templates_dir, version=_version(source))
    matrix = parser.parse()
    source.problems += parser.problems
    return (None if parser.problems else matrix), source


def _version(source: MatrixSource) -> str:
    """A content hash of the matrix and its templates: the version tickets are pinned to."""
    digest = hashlib.sha256(source.matrix_file.read_bytes())
    if source.templates_dir.is_dir():
        for path in sorted(source.templates_dir.rglob("*")):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def schema_problems(doc: YamlDoc) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path)))
    return [_problem_from(error, doc) for error in _most_specific(errors)]


def _most_specific(errors):
    """For oneOf/anyOf failures, report the sub-error that got furthest rather than the summary."""
    for error in errors:
        if error.context:
            best = jsonschema.exceptions.best_match(error.context)
            yield best if best is not None else error
        else:
            yield error


def _problem_from(error: jsonschema.ValidationError, doc: YamlDoc) -> Problem:
    path = tuple(error.absolute_path)
    message, fix = _explain(error)
    if error.validator == "additionalProperties":
        # Point at the misspelt key itself, not at the mapping that holds it.
        unknown = [k for k in error.instance if k not in error.schema.get("properties", {})]
        path = path + (unknown[0],) if unknown else path
    return Problem(message, file=doc.file, path=path_text(path), line=doc.line(path), fix=fix)


def _explain(error: jsonschema.ValidationError) -> tuple[str, str]:
    schema_part, value = error.schema, error.instance
    if error.validator == "additionalProperties":
        allowed = sorted(schema_part.get("properties", {}))
        unknown = [k for k in value if k not in schema_part.get("properties", {})]
        hints = [f"'{k}' -> '{m[0]}'" for k in unknown
                 if (m := difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6))]
        message = f"unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(map(repr, unknown))}"
        fix = ("did you mean " + ", ".join(hints)) if hints else f"allowed keys here: {', '.join(allowed)}"
        return message, fix
    if error.validator == "pattern" and error.validator_value == _DURATION_PATTERN:
        return (f"{value!r} is not a duration",
                "write a number and a unit with no space: 30s, 15m, 2h, 1d or 1h30m")
    if error.validator == "required":
        return error.message, f"add `{error.message.split(chr(39))[1]}:` here"
    if error.validator == "enum":
        close = difflib.get_close_matches(str(value), [str(v) for v in error.validator_value], n=1)
        choices = ", ".join(map(str, error.validator_value))
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{value!r} is not allowed here", f"{hint}choose one of: {choices}"
    if error.validator == "type":
        return f"{value!r} should be of type {error.validator_value}", ""
    return error.message, schema_part.get("description", "")
