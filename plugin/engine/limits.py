"""What the chosen engine cannot run: `escalator check` adds these to the matrix's own lint."""
from __future__ import annotations

from ..domain.errors import EscalatorError, Problem
from ..domain.matrix import Matrix


def engine_problems(matrix: Matrix, engine: str) -> list[Problem]:
    """durable_rules' limits, found by checking the known ones and then compiling for real."""
    if engine != "durable":
        return []
    from . import Evaluator
    from .durable import limit_problems
    problems = limit_problems(matrix)
    if problems:
        return problems
    try:
        Evaluator(matrix, "durable")
    except EscalatorError as exc:
        return [Problem(f"durable_rules cannot compile this matrix: {exc}",
                        fix="simplify the largest conditions, or run with ESCALATOR_ENGINE=python")]
    return []
