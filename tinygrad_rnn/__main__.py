"""python -m tinygrad_rnn: the command-line interface (see tinygrad_rnn.cli)."""
import sys

from .cli import main

sys.exit(main())
