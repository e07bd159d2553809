"""Weight initialisation schemes with PyTorch's names and formulas.

Each fills a Tensor's array in place (no gradient is recorded) from the package's global generator,
so manual_seed fixes it, and returns the tensor.
"""
import math
import warnings

import numpy as np

from ..autograd import no_grad
from ..random import generator as _global_generator
from ..tensor import Tensor

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid")


def _check(tensor, name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {tensor.dtype}")


def _rng(generator):
    """The NumPy Generator to draw from: the one given, or the package's global one."""
    if generator is None:
        return _global_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator or None, got {type(generator).__name__}")
    return generator


def _fill(tensor, values):
    with no_grad():
        tensor.copy_(values)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (tanh: 5/3, relu: √2, leaky_relu: √(2/(1+slope²)), ...)."""
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in·k and out·k, k = prod(kernel)."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dims, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    _check(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    _check(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std²) truncated to [a, b] (by inverting the normal CDF on a uniform draw between the
    CDF's values at a and b, as PyTorch's)."""
    from scipy import special
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    lo, hi = (special.erf((v - mean) / (std * math.sqrt(2.0))) for v in (a, b))
    u = _rng(generator).uniform(lo, hi, tensor.shape)
    return _fill(tensor, np.clip(special.erfinv(u) * std * math.sqrt(2.0) + mean, a, b))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D tensor drawn from N(0, std²) with ceil(sparsity · rows) zeros in each column, at random rows
    (Martens 2010's sparse initialisation)."""
    _check(tensor, "sparse_")
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: expected a 2-D tensor, got shape {tensor.shape}")
    rng = _rng(generator)
    rows, cols = tensor.shape
    values = rng.normal(0.0, std, (rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        values[rng.permutation(rows)[:zeros], c] = 0.0
    return _fill(tensor, values)


def constant_(tensor, val):
    _check(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a non-square one), e.g. for IRNN's hidden weights."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a), a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return _fill(tensor, _rng(generator).uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return _fill(tensor, _rng(generator).normal(0.0, gain * math.sqrt(2.0 / max(fan_in + fan_out, 1)), tensor.shape))


def _kaiming_std(tensor, a, mode, nonlinearity, name):
    _check(tensor, name)
    if tensor._data.size == 0:
        warnings.warn(f"{name}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b), b = gain·√(3 / fan) (He et al., 2015); a=√5 gives Linear's U(±1/√fan_in)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    bound = None if std is None else math.sqrt(3.0) * std
    return tensor if std is None else _fill(tensor, _rng(generator).uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std²), std = gain / √fan."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return tensor if std is None else _fill(tensor, _rng(generator).normal(0.0, std, tensor.shape))


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix over the flattened trailing dims (Saxe et al., 2013), as PyTorch:
    QR of a Gaussian with the signs of R's diagonal folded into Q, so that Q is uniformly distributed.

    For rows >= cols (e.g. a stacked (4H, H) LSTM weight) the columns are orthonormal, QᵀQ = I;
    otherwise the rows are, QQᵀ = I.
    """
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: expected a tensor of at least 2 dims, got shape {tensor.shape}")
    if tensor._data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor._data.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))
