"""tinygrad_rnn: a small, readable, fast reverse-mode autograd engine on NumPy, with numba kernels,
and RNN/LSTM/GRU layers whose back-propagation through time falls out of the unrolled graph."""
from .tensor import (Tensor, Size, device, float16, float32, float64, int8, int16, int32, int64, uint8, bool_,
                     get_default_dtype, set_default_dtype)
from . import autograd
from .autograd import no_grad, inference_mode, enable_grad, is_grad_enabled, set_grad_enabled
from .random import manual_seed
from .creation import (tensor, zeros, ones, full, empty, randn, rand, randint, arange, zeros_like, ones_like,
                       randn_like, full_like, from_numpy, FloatTensor, DoubleTensor, LongTensor, IntTensor,
                       BoolTensor, multinomial, empty_like, rand_like, randint_like, eye, linspace, logspace,
                       randperm, bernoulli, normal, broadcast_shapes, broadcast_tensors, meshgrid, tril_indices,
                       triu_indices)
from .ops import (cat, stack, split, chunk, unbind, where, maximum, minimum, matmul, exp, log, sqrt, sin, cos,
                  tanh, sigmoid, relu, clamp, sum, mean, max, min, logsumexp, var, std, prod, cumsum, norm, softmax,
                  log_softmax, gather, topk, sort, narrow, index_select, clone)
from .gradcheck import gradcheck, gradcheck_report, gradgradcheck, GradcheckError
from .serialization import save, load
from .ctc_decoding import ctc_greedy_decode, ctc_beam_search_decode
from .metrics import edit_distance, label_error_rate
from . import nn, optim, data, training, utils
from .torch_names import torch_functions as _torch_functions

globals().update({name: fn for name, fn in _torch_functions.items() if name not in globals()})

# PyTorch's dtype names (these shadow builtins inside this namespace only, as torch's do)
float, double, half, long, int, short, bool = float32, float64, float16, int64, int32, int16, bool_

__version__ = "0.1.0"
