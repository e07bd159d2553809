"""tinygrad_rnn: a small, readable, fast reverse-mode autograd engine on NumPy, with numba kernels,
and RNN/LSTM/GRU layers whose back-propagation through time falls out of the unrolled graph."""
from .tensor import Tensor, float32, float64, int64, int32, bool_, get_default_dtype, set_default_dtype
from . import autograd
from .autograd import no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from .random import manual_seed
from .creation import (tensor, zeros, ones, full, randn, rand, randint, arange, zeros_like, ones_like,
                       randn_like)
from .ops import (cat, stack, split, chunk, where, maximum, minimum, matmul, exp, log, sqrt, tanh,
                  sigmoid, relu, clamp, sum, mean, max, min, logsumexp, var, softmax, log_softmax)
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .serialization import save, load
from .decoding import ctc_greedy_decode, ctc_beam_search_decode, edit_distance, label_error_rate
from . import nn, optim, data

__version__ = "0.1.0"
