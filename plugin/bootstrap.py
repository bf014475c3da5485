"""The composition root: the one place that turns settings into working parts.

The CLI, the server, the worker, the simulator and the tests all build what they need here.
"""
from __future__ import annotations

from pathlib import Path

from .engine import Evaluator
from .matrix import load_matrix
from .settings import Settings


def build_evaluator(settings: Settings, rules: str | Path | None = None) -> Evaluator:
    """Load and compile the matrix; raises MatrixError (with every problem) if it is invalid."""
    return Evaluator(load_matrix(rules or settings.rules), settings.engine)
