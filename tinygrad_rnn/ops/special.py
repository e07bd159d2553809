"""Special functions the activations and losses need: erf (exact GELU) and log1p (softplus, the
logistic losses), each with a backward composed of Tensor ops, so twice differentiable."""
import math

import numpy as np

from ..autograd import Function
from .elementwise import _unary


class Erf(Function):
    """erf(x) = 2/√π ∫₀ˣ e^{-t²} dt; d/dx = 2/√π e^{-x²}."""

    @staticmethod
    def forward(ctx, x):
        from scipy import special  # here, not at import: scipy.special adds a fifth to the package's import
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


erf, log1p = _unary(Erf), _unary(Log1p)
