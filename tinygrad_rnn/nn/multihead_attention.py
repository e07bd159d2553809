"""nn.MultiheadAttention with PyTorch's parameters, shapes and masks (Vaswani et al. 2017):
softmax(q kᵀ / √d + mask) v in num_heads heads of embed_dim / num_heads features each, composed
of differentiable ops.

Shapes: query (L, N, E), key (S, N, kdim), value (S, N, vdim) ((N, L, E) ... with batch_first; no
N for unbatched input). key_padding_mask (N, S) and a bool attn_mask (L, S) or (N·heads, L, S)
mark with True the positions NOT to attend to (the opposite of scaled_dot_product_attention's bool
mask); a float mask is added to the scores. Returns (output, weights): the weights (N, L, S)
averaged over the heads, or (N, heads, L, S), or None with need_weights=False."""
import math

import numpy as np

from ..ops import cat, dropout, softmax
from ..tensor import ShapeError, Tensor
from . import init
from .layers import Linear
from .module import Module, Parameter, float_dtype


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        dt = float_dtype(dtype, "MultiheadAttention")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.zeros((3 * E, E), dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(np.zeros((E, E), dt))
            self.k_proj_weight = Parameter(np.zeros((E, self.kdim), dt))
            self.v_proj_weight = Parameter(np.zeros((E, self.vdim), dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * E, dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.zeros((1, 1, E), dt))
            self.bias_v = Parameter(np.zeros((1, 1, E), dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self.reset_parameters()

    def reset_parameters(self):
        """Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v, as PyTorch's."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def _projections(self):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            weights = (self.in_proj_weight[:E], self.in_proj_weight[E:2 * E], self.in_proj_weight[2 * E:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        b = self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return weights, biases

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            key_padding_mask = None if key_padding_mask is None else _array(key_padding_mask)[None]
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        L, N, E = query.shape
        if E != self.embed_dim or key.shape[:2] != value.shape[:2] or key.shape[1] != N:
            raise ShapeError(f"MultiheadAttention: expected query (L, N, {self.embed_dim}) and key, value (S, N, ...) "
                             f"of one S and N, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        (wq, wk, wv), (bq, bk, bv) = self._projections()
        q, k, v = (_linear(t, w, b) for t, w, b in ((query, wq, bq), (key, wk, bk), (value, wv, bv)))
        mask = _scores_mask(attn_mask, key_padding_mask, is_causal, L, key.shape[0], N, self.num_heads, q.dtype)
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(1, N, E)])
            v = cat([v, self.bias_v.expand(1, N, E)])
            mask = None if mask is None else _padded(mask)
        H, d = self.num_heads, self.head_dim
        q, k, v = (t.reshape(t.shape[0], N * H, d).transpose(0, 1) for t in (q, k, v))  # (N·H, len, d)
        if self.add_zero_attn:
            zeros = Tensor._make(np.zeros((N * H, 1, d), q.dtype))
            k, v = cat([k, zeros], 1), cat([v, zeros], 1)
            mask = None if mask is None else _padded(mask)
        scores = (q * (1.0 / math.sqrt(d))) @ k.transpose(1, 2)
        if mask is not None:
            scores = scores + mask
        if not need_weights and mask is not None:  # PyTorch's path without weights: a row with nothing to
            empty = np.isneginf(scores._data).all(axis=-1, keepdims=True)  # attend to gets zeros, not NaN
            if empty.any():
                scores = scores.masked_fill(empty, 0.0)
            weights = softmax(scores, -1).masked_fill(empty, 0.0) if empty.any() else softmax(scores, -1)
        else:
            weights = softmax(scores, -1)
        if self.training and self.dropout > 0:
            weights = dropout(weights, self.dropout, True)  # the weights returned are the dropped ones, as PyTorch's
        out = (weights @ v).transpose(0, 1).reshape(L, N, E)
        out = self.out_proj(out)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        if not need_weights:
            return (out if batched else out.squeeze(1)), None
        weights = weights.reshape(N, H, L, weights.shape[-1])
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return (out, weights) if batched else (out.squeeze(1), weights.squeeze(0))


def _linear(x, w, b):
    y = x @ w.t()
    return y if b is None else y + b


def _array(mask):
    return mask._data if isinstance(mask, Tensor) else np.asarray(mask)


def _scores_mask(attn_mask, key_padding_mask, is_causal, L, S, N, H, dtype):
    """The additive (N·H, L, S) mask (or one that broadcasts to it), -inf where attention is barred."""
    if attn_mask is None and is_causal:
        attn_mask = ~np.tri(L, S, dtype=bool)
    masks = []
    for m, name in ((attn_mask, "attn_mask"), (key_padding_mask, "key_padding_mask")):
        if m is None:
            continue
        tensor = m if isinstance(m, Tensor) and m.dtype != np.bool_ else None
        arr = _array(m)
        if arr.dtype == np.bool_:
            tensor = Tensor._make(np.where(arr, -np.inf, 0.0).astype(dtype))
        elif tensor is None:
            tensor = Tensor._make(arr.astype(dtype))
        elif tensor.dtype != dtype:
            tensor = tensor.to(dtype)
        if name == "key_padding_mask":
            if tuple(arr.shape) != (N, S):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape ({N}, {S}), got {arr.shape}")
            tensor = tensor.reshape(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
        elif tuple(arr.shape) not in ((L, S), (N * H, L, S)):
            raise ShapeError(f"MultiheadAttention: attn_mask must have shape ({L}, {S}) or ({N * H}, {L}, {S}), "
                             f"got {arr.shape}")
        masks.append(tensor)
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else masks[0] + masks[1]


def _padded(mask):
    """The mask with one more key position (the added bias or zero key), open to every query."""
    return cat([mask, Tensor._make(np.zeros(mask.shape[:-1] + (1,), mask.dtype))], -1)
