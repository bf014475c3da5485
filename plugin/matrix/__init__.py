"""Loading the matrix from `rules/`: YAML, JSON Schema, then plain domain values."""
from .loader import MatrixSource, load_matrix

__all__ = ["load_matrix", "MatrixSource"]
