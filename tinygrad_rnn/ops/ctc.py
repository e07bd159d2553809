"""Connectionist temporal classification loss (Graves et al. 2006), as torch.nn.functional.ctc_loss.

-log p(l | x), summed over every alignment of the label sequence l to the frames by the alpha-beta
recursions of kernels/ctc.py (log space, one kernel call per batch). The gradient with respect to
log_probs is the exact one, minus the posterior occupancy of each label at each frame, so gradcheck
passes on log_probs directly. PyTorch's CPU backward returns that plus exp(log_probs), which is the
right gradient only after a log_softmax (whose backward removes the extra term): compare the two
through a log_softmax of logits, where they agree.
"""
import numpy as np

from ..autograd import Function, once_differentiable
from ..kernels import ctc as kctc
from ..tensor import Tensor, ShapeError
from .elementwise import to_tensor

_REDUCTIONS = ("mean", "sum", "none")
_SECOND_ORDER = ("ctc_loss: second derivatives are not supported, its backward is a numba kernel (once "
                 "differentiable); take the gradient without create_graph=True")


@once_differentiable(_SECOND_ORDER)
class CTC(Function):
    """(log_probs (T, N, C), padded targets, lengths, blank, zero_infinity) -> per-sequence loss (N,)."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        log_probs = np.ascontiguousarray(log_probs)
        nll, log_alpha = kctc.ctc_forward(log_probs, targets, input_lengths, target_lengths, blank)
        ctx.arrays = (log_probs, targets, input_lengths, target_lengths, blank, log_alpha, nll)
        ctx.zero_infinity = zero_infinity
        return np.where(zero_infinity & (nll == np.inf), np.zeros_like(nll), nll)

    @staticmethod
    def backward(ctx, grad):
        log_probs = ctx.arrays[0]
        g = np.ascontiguousarray(np.broadcast_to(grad.detach().numpy(), log_probs.shape[1:2]), log_probs.dtype)
        return (kctc.ctc_backward(*ctx.arrays, g, ctx.zero_infinity), None, None, None, None, None)


def _ints(x, name):
    """x (a Tensor, array, sequence or int) as an int64 array; TypeError unless it holds integers."""
    a = x.detach().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise TypeError(f"ctc_loss: {name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def _lengths(x, n, unbatched, name):
    a = _ints(x, name)
    if a.shape != (n,) and not (unbatched and a.shape == ()):
        expected = "() or (1,)" if unbatched else f"({n},)"
        raise ShapeError(f"ctc_loss: {name} must have shape {expected}, got {a.shape}")
    if a.size and a.min() < 0:
        raise ValueError(f"ctc_loss: {name} must be non-negative, got {int(a.min())}")
    return np.ascontiguousarray(a.reshape(n))


def _padded(targets, target_lengths, n, unbatched):
    """targets as a padded (N, S) int64 array, from (N, S) padded, 1-D concatenated or unbatched (S,)."""
    given = _ints(targets, "targets")
    if unbatched or given.ndim == 2:
        t = given.reshape(1, -1) if unbatched and given.ndim == 1 else given
        if t.ndim != 2 or t.shape[0] != n:
            expected = "(S,)" if unbatched else f"({n}, S) or 1-D concatenated"
            raise ShapeError(f"ctc_loss: targets must have shape {expected}, got {given.shape}")
        if target_lengths.size and target_lengths.max() > t.shape[1]:
            raise ValueError(f"ctc_loss: target_lengths must be at most the targets' length {t.shape[1]}, "
                             f"got {int(target_lengths.max())}")
        return np.ascontiguousarray(t)
    if given.ndim != 1:
        raise ShapeError(f"ctc_loss: targets must be ({n}, S) padded or 1-D concatenated, got shape {given.shape}")
    if int(target_lengths.sum()) != given.size:
        raise ValueError(f"ctc_loss: concatenated targets must have sum(target_lengths) = "
                         f"{int(target_lengths.sum())} entries, got {given.size}")
    padded = np.zeros((n, int(target_lengths.max(initial=0))), np.int64)
    ends = np.cumsum(target_lengths)
    for i, (end, length) in enumerate(zip(ends, target_lengths)):
        padded[i, :length] = given[end - length:end]
    return padded


def _check_labels(targets, target_lengths, n_classes, blank):
    used = np.arange(targets.shape[1]) < target_lengths[:, None]
    labels = targets[used]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"ctc_loss: targets must be class indices in [0, {n_classes}), got {int(bad)}")
    if (labels == blank).any():
        raise ValueError(f"ctc_loss: targets must not hold the blank index {blank} (within target_lengths)")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """CTC loss of log_probs (T, N, C) (or unbatched (T, C)) against targets, as F.ctc_loss.

    targets: (N, S) padded or 1-D concatenated (sum(target_lengths),); input_lengths and
    target_lengths: (N,) ints. reduction 'mean' divides each loss by its target length (at least 1)
    and averages over the batch; 'sum' adds; 'none' gives (N,). An alignment that cannot exist
    (a target longer than its input allows) has loss inf, or 0 with zero_infinity=True (its gradient
    then is 0 too). The gradient is exact with respect to log_probs; PyTorch's CPU gradient adds
    exp(log_probs) to it, which cancels through a log_softmax (see the module docstring).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    lp = to_tensor(log_probs)
    if lp.dtype not in (np.float32, np.float64):
        raise TypeError(f"ctc_loss: log_probs must be float32 or float64, got {lp.dtype}")
    if lp.ndim not in (2, 3):
        raise ShapeError(f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got shape {lp.shape}")
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lp.reshape(lp.shape[0], 1, lp.shape[1])
    T, n, n_classes = lp.shape
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < n_classes:
        raise ValueError(f"ctc_loss: blank must be an int in [0, {n_classes}), got {blank!r}")
    in_lengths = _lengths(input_lengths, n, unbatched, "input_lengths")
    if in_lengths.size and in_lengths.max() > T:
        raise ValueError(f"ctc_loss: input_lengths must be at most T = {T}, got {int(in_lengths.max())}")
    tgt_lengths = _lengths(target_lengths, n, unbatched, "target_lengths")
    padded = _padded(targets, tgt_lengths, n, unbatched)
    _check_labels(padded, tgt_lengths, n_classes, blank)
    losses = CTC.apply(lp, padded, in_lengths, tgt_lengths, int(blank), bool(zero_infinity))
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return (losses / np.maximum(tgt_lengths, 1).astype(lp.dtype)).mean()
    return losses.reshape(()) if unbatched else losses
