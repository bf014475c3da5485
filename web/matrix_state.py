"""What the matrix page reads: the matrix in force, whether `rules/` loads as it stands, the stored
versions, and two of them compared. Plain values; the views only render them."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from plugin.bootstrap import Container, read_sources
from plugin.domain.errors import Problem
from plugin.domain.matrix import Matrix
from plugin.engine.limits import engine_problems
from plugin.matrix.diff import Change, FileDiff, semantic_diff, text_diff
from plugin.matrix.lint import lint
from plugin.matrix.loader import read_matrix
from plugin.matrix.stored import declared_version, matrix_from_files
from plugin.store.matrix_sql import tickets_by_version

ON_DISK = "rules"       # the `to` of a comparison with what `rules/` holds now, live or not


class UnknownVersion(LookupError):
    """No stored matrix has this version."""


@dataclass(frozen=True)
class ProblemView:
    severity: str           # error | warning
    file: str
    line: int | None
    path: str
    message: str
    fix: str


@dataclass(frozen=True)
class Validation:
    in_force: str                       # the version new tickets are decided by
    rules_dir: str
    on_disk: str                        # the version `rules/` holds now; '' when it does not load
    problems: tuple[ProblemView, ...]   # errors and lint findings of `rules/` as it stands
    refused: tuple[ProblemView, ...]    # why the last reload was refused, if it was

    @property
    def loads(self) -> bool:
        return bool(self.on_disk)

    @property
    def pending(self) -> bool:
        """`rules/` loads but is not what runs: a reload (or a restart) would apply it."""
        return self.loads and self.on_disk != self.in_force

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in self.problems)

    def as_dict(self) -> dict:
        return {**asdict(self), "loads": self.loads, "pending": self.pending}


@dataclass(frozen=True)
class VersionInfo:
    version: str
    label: str
    created_at: datetime | None
    activated_at: datetime | None
    current: bool
    tickets: int = 0                    # real tickets pinned to it
    open_tickets: int = 0               # of which a clock still counts

    def as_dict(self) -> dict:
        return {"version": self.version, "label": self.label, "current": self.current,
                "created_at": _iso(self.created_at), "activated_at": _iso(self.activated_at),
                "tickets": self.tickets, "open_tickets": self.open_tickets}


@dataclass(frozen=True)
class Comparison:
    old: VersionInfo
    new: VersionInfo
    changes: tuple[Change, ...]
    files: tuple[FileDiff, ...]
    problems: tuple[ProblemView, ...]   # a side that no longer parses is compared as text only

    def as_dict(self) -> dict:
        return {"from": self.old.as_dict(), "to": self.new.as_dict(),
                "changes": [asdict(c) for c in self.changes], "files": [asdict(f) for f in self.files],
                "problems": [asdict(p) for p in self.problems]}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def problem_view(problem: Problem) -> ProblemView:
    return ProblemView(problem.severity, problem.file, problem.line, problem.path, problem.message, problem.fix)


# -- the matrix in force and rules/ ----------------------------------------------------------------

class _Cache:
    """A few results, keyed by what they are computed from (files' content or stamps)."""

    def __init__(self, size: int = 32):
        self.size, self.items, self.lock = size, {}, threading.Lock()

    def get(self, key, compute):
        with self.lock:
            if key in self.items:
                return self.items[key]
        value = compute()
        with self.lock:
            if len(self.items) >= self.size:
                self.items.pop(next(iter(self.items)))
            self.items[key] = value
        return value


_checks, _stored, _labels = _Cache(4), _Cache(32), _Cache(256)


def validation(container: Container) -> Validation:
    """The version in force, what `rules/` holds now (checked as `escalator check` does) and any refused reload."""
    settings = container.settings
    key = (str(Path(settings.rules).resolve()), settings.engine, _fingerprint(settings.rules))
    on_disk, problems = _checks.get(key, lambda: _check(settings.rules, settings.engine))
    return Validation(container.matrix().matrix.version, str(settings.rules), on_disk, problems,
                      tuple(problem_view(p) for p in container.matrix.problems))


def _check(rules: str | Path, engine: str) -> tuple[str, tuple[ProblemView, ...]]:
    matrix, source = read_matrix(rules)
    problems = list(source.problems)
    if matrix is not None:
        problems += lint(matrix, source) + engine_problems(matrix, engine)
    loads = matrix is not None and not any(p.severity == "error" for p in problems)
    return (matrix.version if loads else ""), tuple(problem_view(p) for p in problems)


def _fingerprint(rules: str | Path) -> tuple:
    root = Path(rules)
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else [root] if root.is_file() else []
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


# -- stored versions -------------------------------------------------------------------------------

def versions(container: Container) -> list[VersionInfo]:
    """Every matrix that went live, the last activated first, with the label each declares."""
    current = container.matrix().matrix.version
    with container.store.reading() as tx:
        rows = tx.matrix_versions()
        labels = {row["version"]: _labels.get(row["version"], lambda v=row["version"]: _label(tx, v)) for row in rows}
        counts = tickets_by_version(tx.conn)
    return [VersionInfo(r["version"], labels[r["version"]], r["created_at"], r["activated_at"], r["version"] == current,
                        *counts.get(r["version"], (0, 0))) for r in rows]


def _label(tx, version: str) -> str:
    files = tx.matrix_files(version) or {}
    return declared_version(files.get("matrix.yaml", ""))


def default_pair(known: list[VersionInfo]) -> tuple[str, str] | None:
    """The previous version and the current one, or None while only one was ever live."""
    current = next((v.version for v in known if v.current), known[0].version if known else "")
    previous = next((v.version for v in known if v.version != current), None)
    return (previous, current) if previous else None


def compare(container: Container, old: str, new: str, known: list[VersionInfo]) -> Comparison:
    """`old` against `new`: each a stored version, or ON_DISK for `rules/` as it stands."""
    old_info, old_files = _side(container, old, known)
    new_info, new_files = _side(container, new, known)
    old_matrix, old_problems = _parsed(old_files)
    new_matrix, new_problems = _parsed(new_files)
    changes = semantic_diff(old_matrix, new_matrix) if old_matrix and new_matrix else []
    return Comparison(old_info, new_info, tuple(changes), tuple(text_diff(old_files, new_files)),
                      old_problems + new_problems)


def stored(container: Container, version: str, known: list[VersionInfo]
           ) -> tuple[VersionInfo, Matrix | None, tuple[ProblemView, ...]]:
    """A stored version (or ON_DISK) parsed to be read; its matrix is None when it no longer loads."""
    info, files = _side(container, version, known)
    matrix, problems = _parsed(files)
    return info, matrix, problems


def _side(container: Container, version: str, known: list[VersionInfo]) -> tuple[VersionInfo, dict[str, str]]:
    if version == ON_DISK:
        try:
            files = read_sources(container.settings.rules)
        except OSError as exc:
            raise UnknownVersion(version) from exc
        return VersionInfo(ON_DISK, declared_version(files["matrix.yaml"]), None, None, False), files
    info = next((v for v in known if v.version == version), None)
    files = _files(container, version) if info else None
    if files is None:
        raise UnknownVersion(version)
    return info, files


def _files(container: Container, version: str) -> dict[str, str] | None:
    with container.store.reading() as tx:
        return tx.matrix_files(version)


def _parsed(files: dict[str, str]) -> tuple[Matrix | None, tuple[ProblemView, ...]]:
    """The files parsed once per content (rules/ changes under one name, so a name is no key)."""
    def parse():
        matrix, problems = matrix_from_files(files)
        return matrix, tuple(problem_view(p) for p in problems if p.severity == "error")
    digest = hashlib.sha256()
    for path, text in sorted(files.items()):
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return _stored.get(digest.hexdigest(), parse)
