"""Evaluate ticket events against a matrix with a chosen rule backend.

Both backends answer one question, which rules match this event; turning matches into a
decision is the domain's job (`domain.decision.decide`), so the backends cannot drift apart
on anything but matching, and the differential test checks exactly that.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..domain.decision import Decision, decide
from ..domain.errors import EscalatorError
from ..domain.fieldmap import FieldMap
from ..domain.matrix import Matrix, Rule
from ..domain.ticket import TicketEvent, TicketState

BACKENDS = ("durable", "python")
_NEW_TICKET = TicketState()


class Backend(Protocol):
    def matching(self, event: TicketEvent, state: TicketState) -> Sequence[Rule]:
        """The rules whose condition holds, in matrix order."""


class Evaluator:
    """A matrix compiled for one backend; `evaluate` is all the service needs."""

    def __init__(self, matrix: Matrix, backend: str = "durable"):
        self.matrix = matrix
        self.backend_name = backend
        self.backend = _compile(matrix, backend)
        self._field_map = FieldMap(matrix.field_sources)

    def prepare(self, event: TicketEvent) -> TicketEvent:
        """The event with customer tier, region, product area... read through the matrix's field map."""
        return self._field_map.apply(event)

    def evaluate(self, event: TicketEvent, state: TicketState | None = None) -> Decision:
        if state is None:
            state = _NEW_TICKET
        event = self.prepare(event)
        return decide(self.matrix, event, state, self.backend.matching(event, state))


def _compile(matrix: Matrix, backend: str) -> Backend:
    if backend == "python":
        from .python import PythonBackend
        return PythonBackend(matrix)
    if backend == "durable":
        from .durable import DurableBackend
        return DurableBackend(matrix)
    raise EscalatorError(f"unknown engine {backend!r}; set ESCALATOR_ENGINE to one of: {', '.join(BACKENDS)}")
