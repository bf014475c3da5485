"""The composition root: the one place that turns settings into working parts.

The CLI, the server, the worker, the simulator and the tests all build what they need here;
tests pass their own clock or store instead of the defaults.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .domain.clock import Clock, SystemClock
from .engine import Evaluator
from .matrix import load_matrix
from .service import EscalationService
from .settings import Settings
from .store import Store

PLATFORMS = ("jira", "zendesk")


def build_evaluator(settings: Settings, rules: str | Path | None = None) -> Evaluator:
    """Load and compile the matrix; raises MatrixError (with every problem) if it is invalid."""
    return Evaluator(load_matrix(rules or settings.rules), settings.engine)


class LiveMatrix:
    """The matrix in force. A reload that fails leaves the last good matrix running."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._evaluator = build_evaluator(settings)

    def __call__(self) -> Evaluator:
        return self._evaluator

    def reload(self) -> Evaluator:
        evaluator = build_evaluator(self.settings)      # raises before anything is swapped
        with self._lock:
            self._evaluator = evaluator
        return evaluator


@dataclass
class Container:
    settings: Settings
    clock: Clock
    store: Store
    matrix: LiveMatrix
    service: EscalationService
    clients: dict
    planners: dict


def build(settings: Settings | None = None, *, clock: Clock | None = None, store: Store | None = None,
          clients: dict | None = None) -> Container:
    from .writeback import build_clients, planner_for

    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    if store is None:
        if not settings.database_url:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        store = Store(settings.database)
    clients = build_clients(settings) if clients is None else clients
    planners = {p: clients.get(p) or planner_for(p, settings) for p in PLATFORMS}
    matrix = LiveMatrix(settings)
    bots = {"jira": {settings.jira_bot_account_id} - {""}, "zendesk": {settings.zendesk_bot_user_id} - {""}}
    service = EscalationService(matrix, clock, planners, live_platforms=set(clients), bot_actors=bots)
    return Container(settings, clock, store, matrix, service, clients, planners)
