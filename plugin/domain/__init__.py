"""The domain core: tickets, the matrix, decisions. Standard library only."""
