"""Elementwise functions beyond the engine's basic ones: erf, log1p, expm1, tan, the inverse
trigonometric and the hyperbolic ones, log2/log10/exp2, each y = f(x) with f' composed of Tensor ops
of x and y (so twice differentiable); and the rounding functions, constant between their jumps, whose
gradient is 0 (as PyTorch's)."""
import math

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import floated, to_tensor


def _erf(x):
    from scipy import special  # here, not at import: scipy.special adds a fifth to the package's import
    return special.erf(x)


SMOOTH = {  # name: (f on arrays, f'(x, y) as Tensor ops)
    "erf": (_erf, lambda x, y: (x * x * -1.0).exp() * (2.0 / math.sqrt(math.pi))),
    "log1p": (np.log1p, lambda x, y: 1.0 / (x + 1.0)),
    "expm1": (np.expm1, lambda x, y: y + 1.0),
    "exp2": (np.exp2, lambda x, y: y * math.log(2.0)),
    "log2": (np.log2, lambda x, y: 1.0 / (x * math.log(2.0))),
    "log10": (np.log10, lambda x, y: 1.0 / (x * math.log(10.0))),
    "tan": (np.tan, lambda x, y: y * y + 1.0),
    "asin": (np.arcsin, lambda x, y: (1.0 - x * x) ** -0.5),
    "acos": (np.arccos, lambda x, y: -(1.0 - x * x) ** -0.5),
    "atan": (np.arctan, lambda x, y: 1.0 / (x * x + 1.0)),
    "sinh": (np.sinh, lambda x, y: x.cosh()),
    "cosh": (np.cosh, lambda x, y: x.sinh()),
    "asinh": (np.arcsinh, lambda x, y: (x * x + 1.0) ** -0.5),
    "acosh": (np.arccosh, lambda x, y: (x * x - 1.0) ** -0.5),
    "atanh": (np.arctanh, lambda x, y: 1.0 / (1.0 - x * x)),
}


class Smooth(Function):
    """y = f(x) for a function of SMOOTH; dx = g f'(x, y)."""

    @staticmethod
    def forward(ctx, x, name):
        ctx.name = name
        y = np.asarray(SMOOTH[name][0](x))
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * SMOOTH[ctx.name][1](x, y), None


def _smooth(name):
    def op(x):
        return Smooth.apply(floated(x, name), name)
    op.__name__, op.__doc__ = name, f"Elementwise {name}."
    return op


(erf, log1p, expm1, exp2, log2, log10, tan, asin, acos, atan, sinh, cosh, asinh, acosh,
 atanh) = (_smooth(name) for name in SMOOTH)


class Step(Function):
    """A function constant between jumps (floor, ceil, round, trunc, sign): its gradient is 0."""

    @staticmethod
    def forward(ctx, x, f):
        return np.asarray(f(x)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return Tensor._make(np.zeros_like(g._data)), None


def _step(f, name, integers_unchanged=True):
    def op(x):
        x = to_tensor(x)
        if x._data.dtype.kind != "f" and integers_unchanged:
            return Tensor._make(x._data.copy())  # an integer is its own floor, as in PyTorch
        return Step.apply(x, f)
    op.__name__, op.__doc__ = name, f"Elementwise {name} (gradient 0)."
    return op


floor, ceil, trunc = _step(np.floor, "floor"), _step(np.ceil, "ceil"), _step(np.trunc, "trunc")
sign = _step(lambda a: np.where(np.isnan(a), 0, np.sign(a)) if a.dtype != np.bool_ else a.copy(), "sign",
             integers_unchanged=False)  # NaN: 0 and bools unchanged, as in PyTorch


def round(x, decimals=0):
    """Round half to even (as PyTorch and NumPy), to `decimals` places; gradient 0."""
    return _step(lambda a: np.round(a, decimals), "round")(x)


def frac(x):
    """x - trunc(x), the fractional part with x's sign; gradient 1."""
    return x - trunc(x)
