"""Views: tensors that share their base's storage, and in-place writes through them.

A view op (reshape, view, permute, expand, split/chunk/unbind, indexing with a basic key) whose
result shares its input's storage makes a view: it shares the base's version counter and keeps the
ops that remake it from the base. As in PyTorch, an in-place write through a view then reaches the
base's graph (CopySlices: the base with the view's region replaced by the new values) and the view
is remade from the new base; a view used after its base changed is remade first, so gradients
follow the values. Without this, `y[0].mul_(2); y.sum().backward()` would miss the write.
"""
import numpy as np

from .autograd import Context, Function, _new_context
from .tensor import Tensor


class ViewFunction(Function):
    """A Function whose outputs may be views of its first argument (then marked as such)."""

    @classmethod
    def apply(cls, *args):
        out = super().apply(*args)
        x = args[0]
        if isinstance(x, Tensor):
            owner = _owner(x._data)
            base, ops = (x, ()) if x._base is None else (x._base, x._view)
            for i, t in enumerate(out) if type(out) is tuple else ((None, out),):
                if _owner(t._data) is owner:
                    t._version, t._base, t._view_at = x._version, base, x._version[0]
                    t._view = ops + ((cls, args[1:], i),)
        return out


def _owner(a):
    """The object that owns a's memory (NumPy points every view's base at it)."""
    return a if a.base is None else a.base


def remake(base, ops):
    """The view `ops` describe, taken of base (a Tensor, recorded as usual)."""
    t = base
    for fn, rest, i in ops:
        t = fn.apply(t, *rest)
        t = t if i is None else t[i]
    return t


def _positions(shape, ops):
    """The flat positions in a base of `shape` that the view's elements occupy."""
    a = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    for fn, rest, i in ops:
        a = fn.forward(_new_context(Context), a, *rest)
        a = a if i is None else a[i]
    return np.asarray(a)


class CopySlices(Function):
    """The base after a write through a view: its values are already in place (the storage is
    shared); backward sends the view's region of g to the written values and the rest to the base."""

    @staticmethod
    def forward(ctx, base, values, ops):
        ctx.shape, ctx.ops = base.shape, ops
        return base

    @staticmethod
    def backward(ctx, g):
        positions = _positions(ctx.shape, ctx.ops)
        outside = np.ones(g.numel(), dtype=g.dtype)
        outside[positions.reshape(-1)] = 0
        return g * Tensor._make(outside.reshape(ctx.shape)), g.reshape(-1)[positions], None


def write_through(view, values):
    """Record that view (its storage already written) now holds `values` (a Tensor in the graph)."""
    base = view._base
    before = Tensor._make(base._data, base.requires_grad, base._ctx, base._index, base._version)
    base._rebind(CopySlices.apply(before, values, view._view))
    view._rebind(remake(base, view._view))
    view._view_at = view._version[0]


def refresh(view):
    """Remake a view whose base changed since, so that its gradient reaches the base's new node."""
    view._view_at = view._version[0]
    if view._base.requires_grad:
        view._rebind(remake(view._base, view._view))
