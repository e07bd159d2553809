"""PyTorch for the parity tests, when it is installed: `torch` (None otherwise), the `needs_torch`
mark, and each library's nn and nn.functional, so that one test program runs under both."""
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional as tgF
from tinygrad_rnn import nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def lib_nn(L):
    """L's nn: tinygrad_rnn's for tg, torch.nn for torch."""
    return nn if L is tg else L.nn


def lib_functional(L):
    """L's nn.functional."""
    return tgF if L is tg else L.nn.functional
