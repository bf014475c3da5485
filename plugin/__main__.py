"""`python -m plugin ...` is `escalator ...`: how `serve` starts its worker with the same interpreter."""
from .cli import main

main(prog_name="escalator")
