"""One query per sequence attending over its memory, as a single graph node (a decoder's step).

scores_s = k_s · q, weights = masked softmax(scores), context = Σ_s weights_s v_s, for q (B, D),
keys (B, S, D), values (B, S, Dv) and an optional bool keep-mask (B, S). The composed version (two
batched matmuls, a softmax and reshapes, see nn/attention.py) spends most of its backward on
matrix products of transposed views with an inner dimension of 1; here every product runs on
contiguous stacks. Masked positions get exactly zero weight and zero gradient, as in masked_softmax.
Once differentiable; Attention(impl="unrolled") composes the same step from ops.
"""
import numpy as np

from ..autograd import Function, once_differentiable

_SECOND_ORDER = ("dot attention step: second derivatives through the fused step are not supported; build the "
                 "attention (or decoder) with impl=\"unrolled\" to differentiate twice (create_graph=True)")


@once_differentiable(_SECOND_ORDER)
class DotAttentionStep(Function):
    @staticmethod
    def forward(ctx, q, keys, values, mask):
        scores = (keys @ q[:, :, None])[:, :, 0]
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        w = e / e.sum(axis=1, keepdims=True)
        ctx.arrays = (q, keys, values, w)
        return (w[:, None, :] @ values)[:, 0], w

    @staticmethod
    def backward(ctx, d_context, d_weights):
        q, keys, values, w = ctx.arrays
        need_q, need_k, need_v = ctx.needs_input_grad[:3]
        dc = np.zeros(values.shape[::2], w.dtype) if d_context is None else d_context.detach().numpy()
        dw = (values @ dc[:, :, None])[:, :, 0]
        if d_weights is not None:
            dw = dw + d_weights.detach().numpy()
        ds = w * (dw - (dw * w).sum(axis=1, keepdims=True))
        return ((ds[:, None, :] @ keys)[:, 0] if need_q else None,
                ds[:, :, None] * q[:, None, :] if need_k else None,
                w[:, :, None] * dc[:, None, :] if need_v else None, None)


def dot_attention_step(q, keys, values, mask=None):
    """(context (B, Dv), weights (B, S)); mask a bool (B, S) array or None; shapes checked by the caller."""
    return DotAttentionStep.apply(q, keys, values, None if mask is None else np.ascontiguousarray(mask))


class Contiguous(Function):
    """x laid out C-contiguously (a copy only if it is not): the memory is read at every step."""

    @staticmethod
    def forward(ctx, x):
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(x):
    return x if x.detach().numpy().flags.c_contiguous else Contiguous.apply(x)
