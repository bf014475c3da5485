"""Loading the matrix from `rules/`: YAML, JSON Schema, then plain domain values."""
from .loader import load_matrix, MatrixSource

__all__ = ["load_matrix", "MatrixSource"]
