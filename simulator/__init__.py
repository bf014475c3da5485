"""The simulator: generated incidents and scenarios replayed on a virtual clock through the very
same parsers, service and timer logic as production."""
