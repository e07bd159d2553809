"""python -m tinygrad_rnn: the command-line interface (see tinygrad_rnn.cli)."""
from .cli import run

run()
