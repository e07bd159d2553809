"""Weight initialisation schemes with PyTorch's names and formulas.

Each fills a Tensor's array in place (no gradient is recorded) from the package's global generator,
so manual_seed fixes it, and returns the tensor.
"""
import math
import warnings

import numpy as np

from ..autograd import no_grad
from ..random import generator
from ..tensor import Tensor

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid")


def _check(t, name):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {t.dtype}")


def _fill(t, values):
    with no_grad():
        t.copy_(values)
    return t


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


def _calculate_fan_in_and_fan_out(t):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in·k and out·k, k = prod(kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dims, got shape {t.shape}")
    receptive = int(np.prod(t.shape[2:])) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fan(t, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(t, a=0.0, b=1.0):
    _check(t, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(t, generator().uniform(a, b, t.shape))


def normal_(t, mean=0.0, std=1.0):
    _check(t, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(t, generator().normal(mean, std, t.shape))


def constant_(t, val):
    _check(t, "constant_")
    return _fill(t, val)


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def eye_(t):
    """The identity matrix (ones on the diagonal of a non-square one), e.g. for IRNN's hidden weights."""
    _check(t, "eye_")
    if t.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got shape {t.shape}")
    return _fill(t, np.eye(*t.shape))


def xavier_uniform_(t, gain=1.0):
    """U(-a, a), a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    _check(t, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return _fill(t, generator().uniform(-bound, bound, t.shape))


def xavier_normal_(t, gain=1.0):
    """N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    _check(t, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return _fill(t, generator().normal(0.0, gain * math.sqrt(2.0 / max(fan_in + fan_out, 1)), t.shape))


def _kaiming_std(t, a, mode, nonlinearity, name):
    _check(t, name)
    if t._data.size == 0:
        warnings.warn(f"{name}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b), b = gain·√(3 / fan) (He et al., 2015); a=√5 gives Linear's U(±1/√fan_in)."""
    std = _kaiming_std(t, a, mode, nonlinearity, "kaiming_uniform_")
    return t if std is None else _fill(t, generator().uniform(-math.sqrt(3.0) * std, math.sqrt(3.0) * std, t.shape))


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²), std = gain / √fan."""
    std = _kaiming_std(t, a, mode, nonlinearity, "kaiming_normal_")
    return t if std is None else _fill(t, generator().normal(0.0, std, t.shape))


def orthogonal_(t, gain=1.0):
    """A (semi-)orthogonal matrix over the flattened trailing dims (Saxe et al., 2013), as PyTorch:
    QR of a Gaussian with the signs of R's diagonal folded into Q, so that Q is uniformly distributed.

    For rows >= cols (e.g. a stacked (4H, H) LSTM weight) the columns are orthonormal, QᵀQ = I;
    otherwise the rows are, QQᵀ = I.
    """
    _check(t, "orthogonal_")
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: expected a tensor of at least 2 dims, got shape {t.shape}")
    if t._data.size == 0:
        return t
    rows = t.shape[0]
    cols = t._data.size // rows
    flat = generator().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(t, (gain * q).reshape(t.shape))
