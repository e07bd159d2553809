"""Reductions with PyTorch's dim/keepdim: sum, mean, max, min, logsumexp, var, argmax/argmin.

The public names shadow Python's sum/max/min here, so this module calls those through builtins.
"""
import builtins

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from . import return_types
from .elementwise import cast, floated, maximum, minimum, to_tensor, where


def normalize_dims(dim, ndim, name):
    """dim (None, int or sequence) as a sorted tuple of non-negative axes, checked against ndim."""
    if type(dim) is int and -ndim <= dim < ndim:
        return (dim % ndim,)
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
        return np.asarray(x.sum(axis=dims, keepdims=keepdim))

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


def _int64(x):
    """Integers and bools as int64, in which PyTorch sums and multiplies them."""
    x = to_tensor(x)
    return cast(x, np.int64) if x._data.dtype.kind in "biu" and x._data.dtype != np.int64 else x


def sum(x, dim=None, keepdim=False):
    """The sum over dims; integers and bools sum in int64, as PyTorch's."""
    x = _int64(x)
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim=False):
    x = floated(x, "mean")
    dims = normalize_dims(dim, x.ndim, "mean")
    count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
    return Sum.apply(x, dims, keepdim) / float(count)


def _extremum(x, dim, keepdim, largest, name):
    if isinstance(dim, Tensor):  # max(a, b): PyTorch's element-wise overload
        return (maximum if largest else minimum)(x, dim)
    x = to_tensor(x)
    if x._data.size == 0:
        raise ValueError(f"{name}: cannot reduce a tensor with zero elements (shape {x.shape})")
    if dim is None:
        return MaxAll.apply(x, normalize_dims(None, x.ndim, name), keepdim, largest)
    dims = normalize_dims(dim, x.ndim, name)
    pair = getattr(return_types, name)
    if x.ndim == 0:
        return pair(x, Tensor._make(np.asarray(0, dtype=np.int64)))
    (d,) = dims
    return pair(*MaxDim.apply(x, d, keepdim, largest))


def max(x, dim=None, keepdim=False):
    """max() -> 0-d tensor; max(dim) -> (values, indices); max(x, other) -> maximum, as in PyTorch."""
    return _extremum(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim=False):
    """min() -> 0-d tensor; min(dim) -> (values, indices); min(x, other) -> minimum, as in PyTorch."""
    return _extremum(x, dim, keepdim, False, "min")


def amax(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return MaxAll.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim, True)


def amin(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return MaxAll.apply(x, normalize_dims(dim, x.ndim, "amin"), keepdim, False)


def nansum(x, dim=None, keepdim=False):
    """The sum with NaNs taken as 0 (they get no gradient)."""
    x = to_tensor(x)
    return where(np.isnan(x._data), 0.0, x).sum(dim, keepdim) if x.dtype.kind == "f" else sum(x, dim, keepdim)


def nanmean(x, dim=None, keepdim=False):
    """The mean of the non-NaN values."""
    x = floated(x, "nanmean")
    count = (~np.isnan(x._data)).sum(axis=normalize_dims(dim, x.ndim, "nanmean"), keepdims=keepdim)
    return nansum(x, dim, keepdim) / Tensor._make(np.asarray(count, x.dtype))


def count_nonzero(x, dim=None):
    x = to_tensor(x)
    return Tensor._make(np.asarray(np.count_nonzero(x._data, axis=normalize_dims(dim, x.ndim, "count_nonzero")),
                                   dtype=np.int64))


def argmax(x, dim=None, keepdim=False):
    x = to_tensor(x)
    if dim is None:
        return Tensor._make(np.asarray(np.argmax(x._data), dtype=np.int64).reshape((1,) * x.ndim if keepdim else ()))
    return Tensor._make(np.argmax(x._data, axis=dim, keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim=False):
    x = to_tensor(x)
    if dim is None:
        return Tensor._make(np.asarray(np.argmin(x._data), dtype=np.int64).reshape((1,) * x.ndim if keepdim else ()))
    return Tensor._make(np.argmin(x._data, axis=dim, keepdims=keepdim).astype(np.int64))


def logsumexp(x, dim, keepdim=False):
    """log Σ exp(x), shifted by the (detached) max so that ±1e4 stays finite; its gradient is softmax."""
    x = floated(x, "logsumexp")
    dims = normalize_dims(dim, x.ndim, "logsumexp")
    m = np.max(x._data, axis=dims, keepdims=True) if x._data.size else np.zeros(_kept_shape(x.shape, dims), x.dtype)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    out = (x - m).exp().sum(dim=dims, keepdim=True).log() + m
    return out if keepdim else out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))


def var(x, dim=None, correction=1, keepdim=False, unbiased=None):
    """Variance with Bessel's correction by default (correction=1), as torch.var; a bool alone in
    dim's place is torch's var(unbiased) overload."""
    x = floated(x, "var")
    if isinstance(dim, (bool, np.bool_)):
        dim, unbiased = None, bool(dim)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = normalize_dims(dim, x.ndim, "var")
    count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
    centered = x - x.mean(dim=dims, keepdim=True)
    return (centered * centered).sum(dim=dims, keepdim=keepdim) / float(np.maximum(count - correction, 0))


def std(x, dim=None, correction=1, keepdim=False, unbiased=None):
    """The square root of var; its gradient is 0 where the std is 0 (a constant row), as in PyTorch."""
    return _root(var(x, dim, correction, keepdim, unbiased), 0.5)


def _root(total, power):
    """total ** power (0 < power < 1), whose gradient at total = 0 is 0 rather than 0 * inf."""
    zero = total._data == 0
    return where(zero, 0.0, where(zero, 1.0, total) ** power)


class Prod(Function):
    """Product over dims; d/dx_i = prod / x_i, or the product of the others where x_i = 0."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        out = np.asarray(np.prod(x, axis=dims, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        ctx.kept = _kept_shape(x.shape, dims)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g, out = g.reshape(ctx.kept), out.reshape(ctx.kept)
        if not (x._data == 0).any() or x.ndim == 0:
            return g * out / x if x.ndim else g, None, None
        dims = tuple(i for i, (a, b) in enumerate(zip(x.shape, out.shape)) if b == 1 and a != 1)
        last = tuple(range(x.ndim - len(dims), x.ndim))
        moved = np.moveaxis(x._data, dims, last)
        flat = moved.reshape(moved.shape[:x.ndim - len(dims)] + (-1,))
        others = np.moveaxis(_exclusive_prod(flat).reshape(moved.shape), last, dims)
        return g * Tensor._make(others), None, None


def _exclusive_prod(x):
    """Along the last axis, the product of every other element: prefix times suffix products."""
    ones = np.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    before = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before * after


class CumSum(Function):
    """Running sum along dim; its backward is the running sum from the other end."""

    @staticmethod
    def forward(ctx, x, dim, reverse):
        ctx.dim, ctx.reverse = dim, reverse
        if reverse:
            return np.flip(np.cumsum(np.flip(x, dim), axis=dim), dim).copy()
        return np.cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return CumSum.apply(g, ctx.dim, not ctx.reverse), None, None


def prod(x, dim=None, keepdim=False):
    x = _int64(x)
    return Prod.apply(x, normalize_dims(dim, x.ndim, "prod"), keepdim)


def cumsum(x, dim):
    x = _int64(x)
    (d,) = normalize_dims(dim, x.ndim, "cumsum") or (0,)
    return CumSum.apply(x if x.ndim else x.reshape(1), d, False).reshape(x.shape)


def norm(x, p=2, dim=None, keepdim=False):
    """Vector p-norm over dims (all by default); its gradient at 0 is 0, as in PyTorch."""
    x = floated(x, "norm")
    dims = normalize_dims(dim, x.ndim, "norm")
    if p == 2 or p == "fro":
        return _root((x * x).sum(dim=dims, keepdim=keepdim), 0.5)
    if p == 1:
        return x.abs().sum(dim=dims, keepdim=keepdim)
    if p == float("inf"):
        return x.abs().amax(dim=dims, keepdim=keepdim)
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
    a = x.abs()
    zero = a._data == 0  # |x|^p has gradient 0 there (not p·0^(p-1)), as PyTorch's
    powered = where(zero, 0.0, where(zero, 1.0, a) ** p) if p < 1 and zero.any() else a ** p
    return _root(powered.sum(dim=dims, keepdim=keepdim), 1.0 / p)


def var_mean(x, dim=None, correction=1, keepdim=False, unbiased=None):
    return var(x, dim, correction, keepdim, unbiased), mean(x, dim, keepdim)


def std_mean(x, dim=None, correction=1, keepdim=False, unbiased=None):
    return std(x, dim, correction, keepdim, unbiased), mean(x, dim, keepdim)


def any(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return Tensor._make(np.any(x._data, axis=normalize_dims(dim, x.ndim, "any"), keepdims=keepdim))


def all(x, dim=None, keepdim=False):
    x = to_tensor(x)
    return Tensor._make(np.all(x._data, axis=normalize_dims(dim, x.ndim, "all"), keepdims=keepdim))
