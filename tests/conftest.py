from pathlib import Path

import pytest

from plugin.matrix import load_matrix

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shipped_matrix():
    return load_matrix(RULES)
