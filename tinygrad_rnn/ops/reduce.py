"""Reductions with PyTorch's dim/keepdim: sum, mean, max, min, logsumexp, var, argmax/argmin.

The public names shadow Python's sum/max/min here, so this module calls those through builtins.
"""
import builtins

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, get_default_dtype
from .elementwise import to_tensor


def normalize_dims(dim, ndim, name):
    """dim (None, int or sequence) as a sorted tuple of non-negative axes, checked against ndim."""
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(ndim))  # dim=() reduces every dim, as in PyTorch 2
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)  # anything else is checked below
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)):
            raise TypeError(f"{name}: dim must be an int or a tuple of ints, got {type(d).__name__}")
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"{name}: dim {d} is out of range for a tensor of {ndim} dims")
        out.append(int(d) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Function):
    """Sum over dims; backward broadcasts the gradient back over the summed axes."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape = x.shape
        ctx.kept = _kept_shape(x.shape, dims)
        return np.asarray(np.sum(x, axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.kept).expand(*ctx.shape), None, None


class MaxDim(Function):
    """Values and indices of the max (or min) along one dim; the gradient goes to the index."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, largest):
        idx = np.argmax(x, axis=dim) if largest else np.argmin(x, axis=dim)
        idx_k = np.expand_dims(idx, dim)
        values = np.take_along_axis(x, idx_k, axis=dim)
        onehot = np.zeros(x.shape, dtype=x.dtype)
        np.put_along_axis(onehot, idx_k, 1, axis=dim)
        ctx.onehot, ctx.kept, ctx.shape = onehot, idx_k.shape, x.shape
        if not keepdim:
            values, idx_k = values.squeeze(dim), idx
        return values, np.asarray(idx_k, dtype=np.int64)

    @staticmethod
    def backward(ctx, g, g_idx):
        return g.reshape(ctx.kept).expand(*ctx.shape) * ctx.onehot, None, None, None


class MaxAll(Function):
    """Max (or min) over dims; ties share the gradient equally, as PyTorch's amax."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, largest):
        y = (np.max if largest else np.min)(x, axis=dims, keepdims=True)
        mask = (x == y).astype(x.dtype)
        ctx.weights = mask / mask.sum(axis=dims, keepdims=True)
        ctx.kept, ctx.shape = y.shape, x.shape
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.kept).expand(*ctx.shape) * ctx.weights, None, None, None


def _floated(x):
    x = to_tensor(x)
    return x if x.dtype.kind == "f" else x.to(get_default_dtype())


def sum(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim=False):
    x = _floated(x)
    dims = normalize_dims(dim, x.ndim, "mean")
    count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
    return Sum.apply(x, dims, keepdim) / float(count)


def _extremum(x, dim, keepdim, largest, name):
    x = to_tensor(x)
    if x.data.size == 0:
        raise ValueError(f"{name}: cannot reduce a tensor with zero elements (shape {x.shape})")
    if dim is None:
        return MaxAll.apply(x, normalize_dims(None, x.ndim, name), keepdim, largest)
    dims = normalize_dims(dim, x.ndim, name)
    if x.ndim == 0:
        return x, Tensor._make(np.asarray(0, dtype=np.int64))
    (d,) = dims
    return MaxDim.apply(x, d, keepdim, largest)


def max(x, dim=None, keepdim=False):
    """max() -> 0-d tensor; max(dim) -> (values, indices), as in PyTorch."""
    return _extremum(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim=False):
    return _extremum(x, dim, keepdim, False, "min")


def amax(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return MaxAll.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim, True)


def argmax(x, dim=None, keepdim=False):
    x = to_tensor(x)
    if dim is None:
        return Tensor._make(np.asarray(np.argmax(x.data), dtype=np.int64))
    return Tensor._make(np.argmax(x.data, axis=dim, keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim=False):
    x = to_tensor(x)
    if dim is None:
        return Tensor._make(np.asarray(np.argmin(x.data), dtype=np.int64))
    return Tensor._make(np.argmin(x.data, axis=dim, keepdims=keepdim).astype(np.int64))


def logsumexp(x, dim, keepdim=False):
    """log Σ exp(x), shifted by the (detached) max so that ±1e4 stays finite; its gradient is softmax."""
    x = _floated(x)
    dims = normalize_dims(dim, x.ndim, "logsumexp")
    m = np.max(x.data, axis=dims, keepdims=True) if x.data.size else np.zeros(_kept_shape(x.shape, dims), x.dtype)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    out = (x - m).exp().sum(dim=dims, keepdim=True).log() + m
    return out if keepdim else out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))


def var(x, dim=None, correction=1, keepdim=False, unbiased=None):
    """Variance with Bessel's correction by default (correction=1), as torch.var."""
    x = _floated(x)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = normalize_dims(dim, x.ndim, "var")
    count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
    centered = x - x.mean(dim=dims, keepdim=True)
    return (centered * centered).sum(dim=dims, keepdim=keepdim) / float(np.maximum(count - correction, 0))


def std(x, dim=None, correction=1, keepdim=False, unbiased=None):
    return var(x, dim, correction, keepdim, unbiased).sqrt()

