"""Attention: a softmax over a memory of S keys, and the weighted sum of its values.

weights = softmax(score(q, k_s)) over the kept positions s, context = Σ_s weights_s v_s, with scores
  dot (Luong 2015)       q · k_s · scale
  general (Luong 2015)   q · (W k_s)
  additive (Bahdanau 2015)  vᵀ tanh(W_q q + W_k k_s)
A key padding mask from `lengths` (position s of sequence b is kept when s < lengths[b]) gives padded
positions exactly zero weight and zero gradient. The key projections depend only on the memory, so
`Attention.memory` computes them once per source sequence and a decoder reuses them at every step.
Attention(impl="fused") runs a single query's dot/general step as one node (ops/attention_step.py,
first derivatives only); impl="unrolled" composes every score from ops (any order).

Shapes: query (B, D) for one step or (B, T, D) for T queries; keys (B, S, Dk); values (B, S, Dv)
(the keys when omitted); context (B, Dv) / (B, T, Dv) and weights (B, S) / (B, T, S).
"""
import math
from typing import NamedTuple

import numpy as np

from ..ops import dropout, softmax
from ..ops.attention_step import contiguous, dot_attention_step
from ..ops.masked import masked_softmax
from ..tensor import Tensor
from .layers import Linear
from .module import Module, Parameter, float_dtype
from . import init

SCORES = ("dot", "general", "additive")


def key_padding_mask(lengths, size, name="attention"):
    """Bool (B, size): True at positions s < lengths[b]; lengths are ints in [1, size]."""
    arr = lengths.detach().numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: lengths must be integers, got {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected lengths of shape (B,), one per sequence, got {arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > size):
        raise ValueError(f"{name}: lengths must be in [1, {size}] (the memory's length), got {arr.tolist()}")
    return np.arange(size)[None, :] < arr[:, None]


class Memory(NamedTuple):
    """What a query attends over: keys as scored (projected if the score projects them), the
    values, and the bool key mask (B, 1, S) or None; batch on dim 0 of each."""
    keys: Tensor
    values: Tensor
    mask: object


def _check_memory(keys, values, lengths, mask, name):
    for arg, t in (("keys", keys), ("values", values)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected {arg} to be a Tensor, got {type(t).__name__}")
        if t.ndim != 3:
            raise ValueError(f"{name}: expected {arg} of shape (B, S, features), got {t.shape}")
    if values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"{name}: values of shape {values.shape} do not match keys {keys.shape} in (B, S)")
    if values.dtype != keys.dtype:
        raise TypeError(f"{name}: values dtype {values.dtype} differs from keys dtype {keys.dtype}")
    B, S = keys.shape[:2]
    if lengths is not None and mask is not None:
        raise ValueError(f"{name}: pass lengths or mask, not both")
    if lengths is not None:
        mask = key_padding_mask(lengths, S, name)
        if mask.shape[0] != B:
            raise ValueError(f"{name}: lengths has {mask.shape[0]} entries but the memory holds {B} sequences")
    elif mask is not None:
        mask = mask.detach().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape not in ((B, S), (B, 1, S)):
            raise ValueError(f"{name}: mask must be bool of shape ({B}, {S}), got {mask.dtype} {mask.shape}")
    return None if mask is None else mask.reshape(B, 1, S)


def _queries(query, memory_keys, size, name):
    """query as (B, T, D) and whether it was one step (B, D)."""
    if not isinstance(query, Tensor):
        raise TypeError(f"{name}: expected query to be a Tensor, got {type(query).__name__}")
    if query.ndim not in (2, 3):
        raise ValueError(f"{name}: expected query of shape (B, D) or (B, T, D), got {query.shape}")
    if query.shape[0] != memory_keys.shape[0]:
        raise ValueError(f"{name}: query has batch size {query.shape[0]} but the memory has {memory_keys.shape[0]}")
    if query.shape[-1] != size:
        raise ValueError(f"{name}: expected query of size {size} in its last dim, got shape {query.shape}")
    if query.dtype != memory_keys.dtype:
        raise TypeError(f"{name}: query dtype {query.dtype} differs from the memory's {memory_keys.dtype}")
    single = query.ndim == 2
    return (query.reshape(query.shape[0], 1, size) if single else query), single


def _weigh(scores, memory, single):
    """Masked softmax of (B, T, S) scores and the weighted sum of the values."""
    weights = softmax(scores, dim=-1) if memory.mask is None else masked_softmax(scores, memory.mask)
    context = weights @ memory.values
    if single:
        return context.reshape(context.shape[0], context.shape[2]), weights.reshape(weights.shape[0], weights.shape[2])
    return context, weights


def dot_attention(query, keys, values=None, lengths=None, mask=None, scale=None):
    """Luong's dot score q · k (times scale, default 1; 1/√D is scaled dot-product attention).

    Returns (context, weights). mask (bool (B, S), True = attend) is the alternative to lengths.
    """
    values = keys if values is None else values
    memory = Memory(keys if scale is None else keys * float(scale), values,
                    _check_memory(keys, values, lengths, mask, "dot_attention"))
    return _dot(query, memory, "dot_attention")


def _dot(query, memory, name):
    q, single = _queries(query, memory.keys, memory.keys.shape[2], name)
    return _weigh(q @ memory.keys.transpose(1, 2), memory, single)


def additive_attention(query, keys, values, query_weight, key_weight, score_weight, lengths=None, mask=None):
    """Bahdanau's score vᵀ tanh(W_q q + W_k k): query_weight (A, Dq), key_weight (A, Dk), score_weight (A,).

    Returns (context, weights).
    """
    values = keys if values is None else values
    mask = _check_memory(keys, values, lengths, mask, "additive_attention")
    memory = Memory(keys @ key_weight.transpose(0, 1), values, mask)
    return _additive(query, memory, query_weight, score_weight, "additive_attention")


def _additive(query, memory, query_weight, score_weight, name):
    q, single = _queries(query, memory.keys, query_weight.shape[1], name)
    B, T, A = q.shape[0], q.shape[1], query_weight.shape[0]
    projected = (q @ query_weight.transpose(0, 1)).reshape(B, T, 1, A)
    scores = (projected + memory.keys.reshape(B, 1, memory.keys.shape[1], A)).tanh() @ score_weight
    return _weigh(scores, memory, single)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(q kᵀ · scale + mask) v over the last two dims, as F.scaled_dot_product_attention:
    query (..., L, E), key (..., S, E), value (..., S, Ev); scale defaults to 1/√E; a bool attn_mask
    (True = attend) or a float one (added to the scores) broadcasts to (..., L, S); is_causal keeps
    s <= l; a row with nothing to attend to gives zeros, as PyTorch 2.13's."""
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    for arg, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {arg} must be a Tensor of at least 2 dims")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(groups, -3), value.repeat_interleave(groups, -3)
    scores = query @ key.transpose(-2, -1) * (1.0 / math.sqrt(query.shape[-1]) if scale is None else scale)
    if is_causal:
        attn_mask = np.tri(query.shape[-2], key.shape[-2], dtype=bool)
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            attn_mask = Tensor._make(np.asarray(attn_mask))
        if attn_mask.dtype == np.bool_:
            scores = scores.masked_fill(~attn_mask._data, float("-inf"))
        else:
            scores = scores + (attn_mask if attn_mask.dtype == scores.dtype else attn_mask.to(scores.dtype))
    empty = np.isneginf(scores._data).all(axis=-1, keepdims=True)  # nothing to attend to: weights 0
    weights = softmax(scores.masked_fill(empty, 0.0), -1).masked_fill(empty, 0.0) if empty.any() else \
        softmax(scores, -1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value


class Attention(Module):
    """Attention of queries of query_size over a memory of key_size features, as a module.

    score: "dot" (key_size must equal query_size; scale multiplies the scores), "general" (a learned
    W of (query_size, key_size)) or "additive" (W_q, W_k of attention_size rows and a vector v).
    forward(query, keys, values=None, lengths=None, mask=None) -> (context, weights); for decoding,
    memory(keys, values, lengths, mask) once per source and attend(query, memory) at every step.
    """

    def __init__(self, query_size, key_size=None, score="general", attention_size=None, scale=None, impl="fused",
                 dtype=None):
        super().__init__()
        key_size = query_size if key_size is None else key_size
        for arg, v in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Attention: {arg} must be a positive int, got {v!r}")
        if score not in SCORES:
            raise ValueError(f"Attention: score must be one of {SCORES}, got {score!r}")
        if score == "dot" and key_size != query_size:
            raise ValueError(f"Attention: the dot score needs key_size == query_size, got {key_size} and {query_size}")
        if impl not in ("fused", "unrolled"):
            raise ValueError(f"Attention: impl must be 'fused' or 'unrolled', got {impl!r}")
        if scale is not None and score != "dot":
            raise ValueError(f"Attention: scale applies to the dot score only, got score={score!r}")
        self.query_size, self.key_size, self.score, self.scale = int(query_size), int(key_size), score, scale
        self.impl = impl
        dtype = float_dtype(dtype, "Attention")
        if score == "general":
            self.key_proj = Linear(key_size, query_size, bias=False, dtype=dtype)
        elif score == "additive":
            self.attention_size = int(attention_size or query_size)
            self.query_proj = Linear(query_size, self.attention_size, bias=False, dtype=dtype)
            self.key_proj = Linear(key_size, self.attention_size, bias=False, dtype=dtype)
            self.score_weight = Parameter(np.zeros(self.attention_size, dtype=dtype))
            bound = 1.0 / math.sqrt(self.attention_size)
            init.uniform_(self.score_weight, -bound, bound)

    def extra_repr(self):
        return f"{self.query_size}, {self.key_size}, score={self.score!r}"

    def memory(self, keys, values=None, lengths=None, mask=None):
        """The Memory to attend over: keys projected once (general, additive) and the padding mask."""
        values = keys if values is None else values
        mask = _check_memory(keys, values, lengths, mask, "Attention")
        if keys.shape[2] != self.key_size:
            raise ValueError(f"Attention: expected keys of size {self.key_size} in their last dim, got {keys.shape}")
        if self.score == "dot":
            projected = keys if self.scale is None else keys * float(self.scale)
        else:
            projected = self.key_proj(keys)
        if self.impl == "fused":
            projected, values = contiguous(projected), contiguous(values)
        return Memory(projected, values, mask)

    def attend(self, query, memory):
        """(context, weights) of query (B, Dq) or (B, T, Dq) over a Memory from memory()."""
        if self.score == "additive":
            return _additive(query, memory, self.query_proj.weight, self.score_weight, "Attention")
        if self.impl == "fused" and isinstance(query, Tensor) and query.ndim == 2:
            _queries(query, memory.keys, memory.keys.shape[2], "Attention")
            mask = None if memory.mask is None else memory.mask[:, 0]
            return dot_attention_step(query, memory.keys, memory.values, mask)
        return _dot(query, memory, "Attention")

    def forward(self, query, keys, values=None, lengths=None, mask=None):
        return self.attend(query, self.memory(keys, values, lengths, mask))
