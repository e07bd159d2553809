"""Matrix product with NumPy/PyTorch matmul semantics: 1-D, 2-D, batched and broadcast batches."""
import numpy as np

from ..autograd import Function
from ..tensor import ShapeError
from .elementwise import to_tensor


class MatMul(Function):
    """C = A B over the last two dims; dA = dC Bᵀ, dB = Aᵀ dC (batch dims un-broadcast by the engine)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g @ b.transpose(-1, -2) if need_a else None
        if not need_b:
            return ga, None
        if b.ndim == 2 and a.ndim > 2:
            rows = int(np.prod(a.shape[:-1]))  # not -1: ambiguous for zero-size a
            return ga, a.reshape(rows, a.shape[-1]).transpose(0, 1) @ g.reshape(rows, g.shape[-1])
        return ga, a.transpose(-1, -2) @ g


def matmul(a, b):
    a, b = to_tensor(a), to_tensor(b)
    if a._data.ndim == 2 == b._data.ndim and a._data.shape[1] == b._data.shape[0]:
        return MatMul.apply(a, b)  # the common case, checked
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dim, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dims of {a.shape} and {b.shape} cannot be broadcast together") from None
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(-1)).squeeze(-1)
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x Wᵀ + b over the last dim, one node; dx = g W, dW = gᵀ x and db = Σ g over the rows."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        out = np.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        rows = int(np.prod(g.shape[:-1]))  # not -1: ambiguous for zero-size inputs
        flat = g.reshape(rows, g.shape[-1]) if g.ndim != 2 else g
        gw = flat.t() @ (x.reshape(rows, x.shape[-1]) if x.ndim != 2 else x) if need_w else None
        return (g @ w if need_x else None), gw, (flat.sum(dim=0) if need_b else None)


def linear(x, weight, bias=None):
    return Linear.apply(x, weight, bias)
