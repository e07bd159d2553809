"""The activations of torch.nn.functional beyond tanh/sigmoid/softmax, with PyTorch's
arguments, composed of differentiable ops (so twice differentiable). Re-exported by nn.functional.

inplace=True writes the result into the input with copy_ and returns the input, as PyTorch (the
result is computed from a clone, so no tensor a backward saved is the one overwritten).
"""
import math
import warnings

import numpy as np

from ..ops import where, exp, tanh, sigmoid, clamp, softmax as _softmax, log_softmax as _log_softmax
from ..ops import relu as _relu, dropout as _dropout
from ..ops.elementwise import to_tensor
from ..tensor import Tensor
from ..ops.special import erf, log1p


def _apply(fn, x, inplace):
    return x.copy_(fn(x.clone())) if inplace else fn(x)


def _float_tensor(x, name):
    x = to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {x.dtype}")
    return x


def _mask(x, fn):
    """A constant bool mask computed from x's values (never differentiated)."""
    return fn(x.detach().numpy())


def relu(input, inplace=False):
    """max(x, 0)."""
    return _apply(_relu, to_tensor(input), inplace)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity in eval)."""
    return _apply(lambda x: _dropout(x, p, training), to_tensor(input), inplace and training and p > 0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, else negative_slope·x."""
    return _apply(lambda x: where(_mask(x, lambda a: a > 0), x, x * negative_slope),
                  _float_tensor(input, "leaky_relu"), inplace)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, else alpha·(eˣ - 1) (the exponential sees min(x, 0), so it cannot overflow)."""
    return _apply(lambda x: where(_mask(x, lambda a: a > 0), x, (exp(clamp(x, max=0.0)) - 1.0) * alpha),
                  _float_tensor(input, "elu"), inplace)


def silu(input, inplace=False):
    """x·σ(x) (also called swish)."""
    return _apply(lambda x: x * sigmoid(x), _float_tensor(input, "silu"), inplace)


def gelu(input, approximate='none'):
    """x·Φ(x) = x/2·(1 + erf(x/√2)); approximate='tanh': x/2·(1 + tanh(√(2/π)·(x + 0.044715x³)))."""
    x = _float_tensor(input, "gelu")
    if approximate == 'none':
        return x * 0.5 * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0)
    if approximate == 'tanh':
        return x * 0.5 * (tanh((x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)) + 1.0)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus_unit(z):
    """log(1 + eᶻ) = max(z, 0) + log1p(e^{-|z|}), written so that z = 0 gets gradient 1/2."""
    positive = _mask(z, lambda a: a > 0)
    return where(positive, z, 0.0) + log1p(exp(where(positive, -z, z)))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^{βx})/β, and x itself where βx > threshold (as PyTorch)."""
    x = _float_tensor(input, "softplus")
    z = x * beta
    return where(_mask(z, lambda a: a > threshold), x, softplus_unit(z) / beta)


def logsigmoid(input):
    """log σ(x) = -softplus(-x)."""
    x = _float_tensor(input, "logsigmoid")
    return -softplus_unit(-x)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clipped to [min_val, max_val]; gradient 1 strictly inside, 0 elsewhere (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")

    def clip(x):
        inside = _mask(x, lambda a: (a > min_val) & (a < max_val))
        return where(inside, x, to_tensor(np.clip(x.detach().numpy(), min_val, max_val)))
    return _apply(clip, _float_tensor(input, "hardtanh"), inplace)


def relu6(input, inplace=False):
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def softsign(input):
    """x / (1 + |x|)."""
    x = _float_tensor(input, "softsign")
    return x / (x.abs() + 1.0)


def tanhshrink(input):
    """x - tanh(x)."""
    x = _float_tensor(input, "tanhshrink")
    return x - tanh(x)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale·(x for x > 0, else alpha·(eˣ - 1)), Klambauer et al.'s self-normalising constants."""
    return _apply(lambda x: elu(x, SELU_ALPHA) * SELU_SCALE, _float_tensor(input, "selu"), inplace)


def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, else alpha·(e^{x/alpha} - 1)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _apply(lambda x: where(_mask(x, lambda a: a > 0), x, (exp(clamp(x, max=0.0) / alpha) - 1.0) * alpha),
                  _float_tensor(input, "celu"), inplace)


def mish(input, inplace=False):
    """x·tanh(softplus(x))."""
    return _apply(lambda x: x * tanh(softplus(x)), _float_tensor(input, "mish"), inplace)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6: gradient 1/6 strictly inside (-3, 3), 0 outside (as PyTorch)."""
    def fn(x):
        inside = _mask(x, lambda a: (a > -3) & (a < 3))
        return where(inside, x / 6.0 + 0.5, to_tensor((x.detach().numpy() >= 3).astype(x.dtype)))
    return _apply(fn, _float_tensor(input, "hardsigmoid"), inplace)


def hardswish(input, inplace=False):
    """x·relu6(x + 3) / 6: gradient 0 up to -3, x/3 + 1/2 between, 1 from 3 (as PyTorch)."""
    def fn(x):
        low, high = _mask(x, lambda a: a <= -3), _mask(x, lambda a: a >= 3)
        return where(low, 0.0, where(high, x, x * (x + 3.0) / 6.0))
    return _apply(fn, _float_tensor(input, "hardswish"), inplace)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    x = _float_tensor(input, "softshrink")
    return where(_mask(x, lambda a: a > lambd), x - lambd, where(_mask(x, lambda a: a < -lambd), x + lambd, 0.0))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    x = _float_tensor(input, "hardshrink")
    return where(_mask(x, lambda a: np.abs(a) > lambd), x, 0.0)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    return _apply(lambda x: where(_mask(x, lambda a: a > threshold), x, value), to_tensor(input), inplace)


def glu(input, dim=-1):
    """a·σ(b) for the two halves a, b of input along dim (Dauphin et al.'s gated linear unit)."""
    x = _float_tensor(input, "glu")
    if x.ndim == 0 or x.shape[dim] % 2:
        raise ValueError(f"glu: dim {dim} of the input must have an even size, got shape {x.shape}")
    a, b = x.chunk(2, dim)
    return a * sigmoid(b)


def prelu(input, weight):
    """x for x > 0, else w·x, with one learned slope w per channel (dim 1) or one for all."""
    x = _float_tensor(input, "prelu")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.ndim > 1 or weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight must hold 1 or {channels} (the channels) slopes, got shape {weight.shape}")
    w = weight.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 and weight.numel() > 1 else weight
    return where(_mask(x, lambda a: a > 0), x, w * x)


def _in_place_form(fn):
    def op(input, *args, **kwargs):
        return fn(input, *args, inplace=True, **kwargs)
    op.__name__, op.__doc__ = fn.__name__ + "_", f"In place: {fn.__name__}."
    return op


relu_, elu_, leaky_relu_, hardtanh_, threshold_, selu_, celu_ = (
    _in_place_form(f) for f in (relu, elu, leaky_relu, hardtanh, threshold, selu, celu))


def _dim_and_dtype(input, dim, dtype, name):
    """The input (cast to dtype first, when given, as PyTorch casts) and its softmax dim: PyTorch's
    implicit one, with its warning, when dim is None (not -1: a (T, B, C) input is taken along T).
    The callers take PyTorch's _stacklevel only so that dtype keeps its position; it is unused."""
    x = to_tensor(input)
    x = x if dtype is None else x.to(dtype)
    return x, implicit_dim(dim, x.ndim, name, stacklevel=4)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / Σ exp(x) along dim, as F.softmax."""
    return _softmax(*_dim_and_dtype(input, dim, dtype, "softmax"))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along dim, as F.log_softmax."""
    return _log_softmax(*_dim_and_dtype(input, dim, dtype, "log_softmax"))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along dim."""
    x, dim = _dim_and_dtype(_float_tensor(input, "softmin"), dim, dtype, "softmin")
    return _softmax(-x, dim)


def implicit_dim(dim, ndim, name, stacklevel=3):
    """PyTorch's choice when a softmax-like op is given no dim (0 for 0-, 1- and 3-d input, else 1),
    with its deprecation warning."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1
