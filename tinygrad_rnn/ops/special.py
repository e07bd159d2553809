"""Special functions the activations and losses need: erf (exact GELU) and log1p (softplus, the
logistic losses), each with a backward composed of Tensor ops, so twice differentiable."""
import math

import numpy as np
from scipy import special

from ..autograd import Function
from ..tensor import get_default_dtype
from .elementwise import to_tensor, cast


class Erf(Function):
    """erf(x) = 2/√π ∫₀ˣ e^{-t²} dt; d/dx = 2/√π e^{-x²}."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.erf(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x * x * -1.0).exp() * (2.0 / math.sqrt(math.pi)))


class Log1p(Function):
    """log(1 + x), exact for small x; d/dx = 1 / (1 + x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (x + 1.0)


def _float(x):
    x = to_tensor(x)
    return x if x.dtype.kind == "f" else cast(x, get_default_dtype())


def erf(x):
    """Elementwise error function."""
    return Erf.apply(_float(x))


def log1p(x):
    """Elementwise log(1 + x)."""
    return Log1p.apply(_float(x))
