"""Softmax over the last dim restricted to the positions a boolean mask keeps (attention's padding).

Kept positions get exp(x - m) / Σ_kept exp(x - m) with m the largest kept score; masked positions get
exactly 0, and so does their gradient: the backward y (g - Σ g y) vanishes wherever y is 0. A row with
no kept position has no softmax at all, so it raises instead of returning NaN.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor, ShapeError
from .elementwise import to_tensor


class MaskedSoftmax(Function):
    @staticmethod
    def forward(ctx, x, mask):
        shifted = np.where(mask, x, -np.inf)
        shifted = shifted - shifted.max(axis=-1, keepdims=True)
        e = np.exp(shifted)  # exp(-inf) is exactly 0
        y = e / e.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(dim=-1, keepdim=True)), None


def masked_softmax(x, mask):
    """softmax(x, dim=-1) over the positions where mask (bool, broadcastable to x) is True; 0 elsewhere."""
    x = to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"masked_softmax: expected a floating-point input, got {x.dtype}")
    m = mask.detach().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_softmax: mask must be a bool array (True = keep), got {m.dtype}")
    try:
        m = np.broadcast_to(m, x.shape)
    except ValueError:
        raise ShapeError(f"masked_softmax: mask of shape {m.shape} does not broadcast to input {x.shape}") from None
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(f"masked_softmax: expected an input with a non-empty last dim, got shape {x.shape}")
    empty = ~m.any(axis=-1)
    if empty.any():
        row = tuple(int(i) for i in np.argwhere(empty)[0])
        raise ValueError(f"masked_softmax: row {row} of the mask keeps no position, so its softmax is undefined "
                         "(every query needs at least one key: lengths must be >= 1)")
    return MaskedSoftmax.apply(x, m)
