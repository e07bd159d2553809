"""softmax and log_softmax along a dimension (rows moved last, run by numba kernels), and
dropout, which shares their floating-point input check."""
import numpy as np

from ..autograd import Function
from ..kernels import softmax as ksoftmax
from ..random import generator
from .elementwise import to_tensor
from .reduce import normalize_dims


def _rows(x, dim):
    """x with dim moved last, as a C-contiguous (N, C) array, and how to undo it."""
    if dim == x.ndim - 1 and x.flags.c_contiguous:
        return x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1]), x.shape
    moved = np.moveaxis(x, dim, -1)
    n = int(np.prod(moved.shape[:-1]))  # not -1: ambiguous when C == 0
    return np.ascontiguousarray(moved).reshape(n, moved.shape[-1]), moved.shape


def _along(kernel, x, dim):
    """kernel over the rows of x along dim; the kernels need C >= 1, so an empty dim stays empty."""
    rows, moved = _rows(x, dim)
    out = kernel(rows) if rows.shape[1] else rows.copy()
    return out.reshape(moved) if dim == x.ndim - 1 else np.moveaxis(out.reshape(moved), -1, dim)


class _SoftmaxLike(Function):
    """y = kernel(rows of x along dim), saved for the backward (softmax's y, log_softmax's log y)."""

    kernel = None

    @classmethod
    def forward(cls, ctx, x, dim):
        y = _along(cls.kernel, x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y


class Softmax(_SoftmaxLike):
    kernel = staticmethod(ksoftmax.softmax_rows)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(dim=ctx.dim, keepdim=True)), None


class LogSoftmax(_SoftmaxLike):
    kernel = staticmethod(ksoftmax.log_softmax_rows)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return LogSoftmaxGrad.apply(g, y, ctx.dim), None


class LogSoftmaxGrad(Function):
    """g - exp(y) Σ g along dim, one node; its own backward is composed (so it differentiates again):
    d/dg = gg - Σ gg exp(y), d/dy = -gg exp(y) Σ g."""

    @staticmethod
    def forward(ctx, g, y, dim):
        ctx.save_for_backward(g, y)
        ctx.dim = dim
        return g - np.exp(y) * g.sum(axis=dim, keepdims=True)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        s = y.exp()
        need_g, need_y = ctx.needs_input_grad[:2]
        return ((gg - (gg * s).sum(dim=ctx.dim, keepdim=True)) if need_g else None,
                (-gg * s * g.sum(dim=ctx.dim, keepdim=True)) if need_y else None, None)


def _float_input(x, name):
    x = to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {x.dtype}")
    return x


def _along_dim(fn, x, dim, name):
    x = _float_input(x, name)
    dims = normalize_dims(dim, x.ndim, name)  # () for a 0-d tensor
    return fn.apply(x, dims[0]) if x.ndim else fn.apply(x.reshape(1), 0).reshape(())


def softmax(x, dim=-1):
    return _along_dim(Softmax, x, dim, "softmax")


def log_softmax(x, dim=-1):
    return _along_dim(LogSoftmax, x, dim, "log_softmax")


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity in eval)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _float_input(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = generator().random(x.shape) >= p
    return x * (keep / (1.0 - p)).astype(x.dtype)
