"""embedding: rows of a weight table at integer indices; its gradient is a scatter-add kernel."""
import numpy as np

from ..autograd import Function
from ..kernels import scatter
from ..tensor import Tensor


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, idx, padding_idx):
        ctx.idx, ctx.num, ctx.padding_idx = idx, weight.shape[0], padding_idx
        return weight[idx]

    @staticmethod
    def backward(ctx, g):
        return EmbeddingGrad.apply(g, ctx.idx, ctx.num, ctx.padding_idx), None, None


class EmbeddingGrad(Function):
    """Scatter-add of output gradients into weight rows (the padding row gets none), by a kernel."""

    @staticmethod
    def forward(ctx, g, idx, num, padding_idx):
        ctx.idx, ctx.padding_idx = idx, padding_idx
        flat = np.ascontiguousarray(g).reshape(idx.size, int(np.prod(g.shape[idx.ndim:])))
        pad = -1 if padding_idx is None else padding_idx
        return scatter.embedding_backward(idx.reshape(-1), flat, num, pad)

    @staticmethod
    def backward(ctx, gg):
        picked = Embedding.apply(gg, ctx.idx, None)
        if ctx.padding_idx is not None:
            picked = picked * (ctx.idx != ctx.padding_idx)[..., None]
        return picked, None, None, None


def embedding(input, weight, padding_idx=None):
    """Rows of weight at integer indices: output shape input.shape + (embedding_dim,)."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {idx.dtype}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {num} embeddings")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be in [-{num}, {num}), got {padding_idx}")
        padding_idx %= num
    return Embedding.apply(weight, idx.astype(np.int64, copy=False), padding_idx)
