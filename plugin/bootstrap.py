"""The composition root: the one place that turns settings into working parts.

The CLI, the server, the worker, the simulator and the tests all build what they need here;
tests pass their own clock or store instead of the defaults.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from .domain.clock import Clock, SystemClock
from .domain.errors import EscalatorError
from .engine import Evaluator
from .matrix import load_matrix
from .metrics import Metrics
from .notify import COMMS, CommsClient, Notifier
from .platforms import PLATFORMS, build_clients
from .processor import Processor
from .queue import from_url as wake_queue
from .service import EscalationService
from .settings import Settings
from .store.port import StoragePort
from .store.sql import SqlStore

log = logging.getLogger(__name__)


def build_evaluator(settings: Settings, rules: str | Path | None = None) -> Evaluator:
    """Load and compile the matrix; raises MatrixError (with every problem) if it is invalid."""
    return Evaluator(load_matrix(rules or settings.rules), settings.engine)


class LiveMatrix:
    """The matrices in force: the current one for new tickets, and each ticket's own version.

    A ticket keeps the matrix it was first evaluated under. Every matrix that goes live is stored
    with its source, so pinned tickets survive a restart; a reload that fails, or a start with a
    broken `rules/`, keeps the last good matrix running and says why.
    """

    def __init__(self, settings: Settings, store: StoragePort, clock: Clock):
        self.settings, self.store, self.clock = settings, store, clock
        self._lock = threading.Lock()
        self._by_version: dict[str, Evaluator] = {}
        self.problems: list = []
        self._current = self._load_current()

    def __call__(self) -> Evaluator:
        return self._current

    def for_version(self, version: str) -> Evaluator:
        """The evaluator a ticket pinned to `version` uses; the current one for a new ticket."""
        if not version or version == self._current.matrix.version:
            return self._current
        with self._lock:
            if version not in self._by_version:
                self._by_version[version] = self._rebuild(version) or self._current
            return self._by_version[version]

    def reload(self) -> list:
        """Load `rules/` again; on errors keep the matrix in force and return the problems."""
        try:
            evaluator = build_evaluator(self.settings)
        except EscalatorError as exc:
            self.problems = list(getattr(exc, "problems", [exc]))
            log.error("the new matrix was refused, %s stays in force:\n%s", self._current.matrix.version, exc)
            return self.problems
        self._activate(evaluator)
        self.problems = []
        return []

    def _load_current(self) -> Evaluator:
        try:
            evaluator = build_evaluator(self.settings)
        except EscalatorError as exc:
            with self.store.transaction() as tx:
                last_good = tx.last_good_matrix()
            if last_good is None:
                raise
            self.problems = list(getattr(exc, "problems", [exc]))
            log.error("rules/ is invalid; running the last good matrix %s:\n%s", last_good, exc)
            return self._rebuild(last_good)
        self._activate(evaluator, remember_only=True)
        return evaluator

    def _activate(self, evaluator: Evaluator, remember_only: bool = False) -> None:
        with self.store.transaction() as tx:
            tx.remember_matrix(evaluator.matrix.version, read_sources(self.settings.rules), self.clock.now())
        with self._lock:
            self._by_version[evaluator.matrix.version] = evaluator
            if not remember_only:
                self._current = evaluator

    def _rebuild(self, version: str) -> Evaluator | None:
        with self.store.transaction() as tx:
            files = tx.matrix_files(version)
        if files is None:
            log.warning("matrix %s is not stored; its tickets use the current matrix", version)
            return None
        folder = Path(self.settings.data_dir) / "matrices" / version
        for relative, text in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return Evaluator(load_matrix(folder), self.settings.engine)


def watch_rules(matrix: LiveMatrix, interval: float = 2.0) -> threading.Event:
    """Reload the matrix whenever the files in `rules/` change (`serve --reload`); set the event to stop."""
    stop = threading.Event()
    seen = _fingerprint(matrix.settings.rules)     # taken now: a change right after this call counts

    def loop():
        nonlocal seen
        while not stop.wait(interval):
            current = _fingerprint(matrix.settings.rules)
            if current != seen:
                seen = current
                problems = matrix.reload()
                log.info("rules/ changed: %s", "refused, see above" if problems else
                         f"matrix {matrix().matrix.version} now applies to new tickets")

    threading.Thread(target=loop, name="escalator-reload", daemon=True).start()
    return stop


def _fingerprint(rules: str | Path) -> tuple:
    root = Path(rules)
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()))


def read_sources(rules: str | Path) -> dict[str, str]:
    """matrix.yaml and its templates, by path relative to the rules directory."""
    root = Path(rules)
    files = {"matrix.yaml": (root / "matrix.yaml").read_text(encoding="utf-8")}
    for template in sorted((root / "templates").glob("*")) if (root / "templates").is_dir() else []:
        if template.is_file():
            files[f"templates/{template.name}"] = template.read_text(encoding="utf-8")
    return files


@dataclass
class Container:
    settings: Settings
    clock: Clock
    store: StoragePort
    matrix: LiveMatrix
    service: EscalationService
    processor: Processor
    clients: dict           # platform write-back clients with credentials (the others are dry-run)
    planners: dict
    outbox_clients: dict    # what the outbox worker sends through: the platforms and the comms channels
    metrics: Metrics | None
    bots: dict[str, frozenset[str]]     # per platform, the accounts Escalator writes as


def build(settings: Settings | None = None, *, clock: Clock | None = None, store: StoragePort | None = None,
          clients: dict | None = None, metrics: Metrics | None = None,
          with_metrics: bool = True) -> Container:
    """Everything wired from settings; tests and the simulator pass their own clock and store
    instead of the wall clock and SQL (the simulator runs without metrics)."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    if store is None:
        if not settings.database_url:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        store = SqlStore(settings.database)
    clients = build_clients(settings, timeout=(5.0, settings.writeback_timeout)) if clients is None else clients
    planners = {name: clients.get(name) or platform.planner(settings) for name, platform in PLATFORMS.items()}
    matrix = LiveMatrix(settings, store, clock)
    bots = {name: frozenset({platform.bot_account(settings)} - {""}) for name, platform in PLATFORMS.items()}
    notifier = Notifier(settings.comms, ticket_urls(settings), dashboard_url=settings.public_url)
    service = EscalationService(matrix, planners, live_platforms=set(clients), notifier=notifier)
    metrics = metrics or (Metrics(store, clock) if with_metrics else None)
    processor = Processor(store, service, clock, on_pass=metrics.processed if metrics else None,
                          wakeups=wake_queue(settings.queue_url))
    outbox_clients = {**clients, COMMS: CommsClient(notifier)}
    return Container(settings, clock, store, matrix, service, processor, clients, planners, outbox_clients, metrics,
                     bots)


def ticket_urls(settings: Settings) -> dict[str, str]:
    """Where an agent opens a ticket, for links in messages: per platform, a URL pattern with {key}."""
    urls = {name: platform.ticket_url(settings) for name, platform in PLATFORMS.items()}
    return {name: url for name, url in urls.items() if url}
