"""Losses: cross_entropy (with label smoothing and ignore_index), nll_loss, mse/l1,
binary_cross_entropy and binary_cross_entropy_with_logits; the reduction argument as PyTorch's."""
import numpy as np

from ..autograd import Function
from ..kernels import softmax as ksoftmax
from ..tensor import Tensor, ShapeError
from .elementwise import to_tensor, sigmoid
from .shape import ScatterAdd
from .softmax import _float_input, softmax

_REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """Per-row loss lse(z) - q·z with q = (1-ls) onehot(t) + ls/C; 0 on ignored rows."""

    @staticmethod
    def forward(ctx, z, target, ignore_index, smoothing):
        if z.shape[1] == 0:  # no classes, so every target is ignored; the kernel needs C >= 1
            loss, lse = np.zeros(len(z), z.dtype), np.full(len(z), -np.inf, z.dtype)
        else:
            loss, lse = ksoftmax.cross_entropy_rows(np.ascontiguousarray(z), target, ignore_index, smoothing)
        ctx.args = (target, ignore_index, smoothing, lse)
        ctx.save_for_backward(z)
        return loss

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return CrossEntropyGrad.apply(z, g, *ctx.args), None, None, None


class CrossEntropyGrad(Function):
    """dz = g (softmax(z) - q), by a kernel; its own backward is composed (softmax's JVP)."""

    @staticmethod
    def forward(ctx, z, g, target, ignore_index, smoothing, lse):
        ctx.save_for_backward(z, g)
        ctx.target, ctx.ignore_index, ctx.smoothing = target, ignore_index, smoothing
        if z.shape[1] == 0:  # no classes (see CrossEntropy.forward)
            return np.zeros_like(z)
        g = np.ascontiguousarray(g, dtype=z.dtype)
        return ksoftmax.cross_entropy_backward_rows(np.ascontiguousarray(z), lse, target, ignore_index, smoothing, g)

    @staticmethod
    def backward(ctx, gg):
        z, g = ctx.saved_tensors
        keep = (ctx.target != ctx.ignore_index).astype(z.dtype)[:, None]
        n, c = z.shape
        q = np.full((n, c), ctx.smoothing / c, dtype=z.dtype)
        q[np.arange(n), np.where(keep[:, 0] > 0, ctx.target, 0)] += 1.0 - ctx.smoothing
        s = softmax(z, dim=1)
        sgg = s * gg
        gz = (g.reshape(n, 1) * keep) * (sgg - s * sgg.sum(dim=1, keepdim=True))
        gg_dot = ((s - q) * gg * keep).sum(dim=1)
        return gz, gg_dot, None, None, None, None


def reduce_losses(losses, reduction, count=None):
    """PyTorch's reduction of per-element losses: 'none', 'sum', or 'mean' (over count, or every element)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else total / float(losses._data.size if count is None else count)


def _check_reduction(reduction, name):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_rows(x, target, name):
    """(N, C) logits and (N,) int64 targets from PyTorch's (C)/(), (N, C)/(N) or (N, C, d...)/(N, d...)."""
    x = _float_input(x, name)
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold class indices (an integer tensor), got {t.dtype}")
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if x.ndim == 0 or t.shape != expected:
        raise ShapeError(f"{name}: input of shape {x.shape} needs a target of shape {expected}, got {t.shape}")
    if x.ndim == 1:
        rows = x.reshape(1, -1)
    elif x.ndim == 2:
        rows = x
    else:
        rows = x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])
    return rows, t.reshape(-1).astype(np.int64), t.shape


def _check_targets(t, n_classes, ignore_index, name):
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"{name}: target {int(t[bad][0])} is out of bounds for {n_classes} classes")


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits against class indices, as torch.nn.functional.cross_entropy."""
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    rows, t, t_shape = _class_rows(input, target, "cross_entropy")
    _check_targets(t, rows.shape[1], ignore_index, "cross_entropy")
    losses = CrossEntropy.apply(rows, t, int(ignore_index), float(label_smoothing))
    if reduction == "none":
        return losses.reshape(t_shape)
    return reduce_losses(losses, reduction, int((t != ignore_index).sum()))


class NLL(Function):
    """-x[i, t_i] per row (weights w_i: 0 for ignored rows, 1/count for 'mean'), summed unless
    per_row; one node. backward scatters -g w_i to the picked entries, as a Tensor op."""

    @staticmethod
    def forward(ctx, rows, t, weights, per_row):
        ctx.index, ctx.weights, ctx.shape, ctx.per_row = t[:, None], weights, rows.shape, per_row
        losses = -np.take_along_axis(rows, ctx.index, axis=1)[:, 0] * weights
        return losses if per_row else np.asarray(losses.sum())

    @staticmethod
    def backward(ctx, g):
        col = (g * Tensor._make(-ctx.weights)).reshape(len(ctx.weights), 1)
        return ScatterAdd.apply(col, 1, ctx.index, ctx.shape), None, None, None


def nll_loss(input, target, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities at class indices, as F.nll_loss."""
    _check_reduction(reduction, "nll_loss")
    rows, t, t_shape = _class_rows(input, target, "nll_loss")
    _check_targets(t, rows.shape[1], ignore_index, "nll_loss")
    keep = t != ignore_index
    weights = keep.astype(rows.dtype)
    if reduction == "mean":
        count = int(keep.sum())
        weights = weights / max(count, 1)
    losses = NLL.apply(rows, np.where(keep, t, 0), weights, reduction == "none")
    if reduction == "mean" and not count:  # no row counts: the mean is nan and the gradient 0, as in PyTorch
        losses = losses + float("nan")
    return losses.reshape(t_shape) if reduction == "none" else losses


def _same_shape(a, b, name):
    a, b = _float_input(a, name), to_tensor(b, a if isinstance(a, Tensor) else None)
    if a.shape != b.shape:
        raise ShapeError(f"{name}: input of shape {a.shape} and target of shape {b.shape} differ")
    return a, b


def mse_loss(input, target, reduction="mean"):
    _check_reduction(reduction, "mse_loss")
    a, b = _same_shape(input, target, "mse_loss")
    d = a - b
    return reduce_losses(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    _check_reduction(reduction, "l1_loss")
    a, b = _same_shape(input, target, "l1_loss")
    return reduce_losses((a - b).abs(), reduction)


class BCEWithLogits(Function):
    """(1 - y) x + max(-x, 0) + log(1 + exp(-|x|)); d/dx = sigmoid(x) - y, d/dy = -x.

    Written as PyTorch writes it, so that infinities agree too: (x, y) = (+inf, 0) costs inf
    (max(x, 0) - x y would give inf - inf·0 = nan)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return (1 - y) * x + np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        return (g * (sigmoid(x) - y) if need_x else None), (-g * x if need_y else None)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean"):
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x, y = _same_shape(input, target, "binary_cross_entropy_with_logits")
    losses = BCEWithLogits.apply(x, y)
    if weight is not None:
        losses = losses * weight
    return reduce_losses(losses, reduction)


class BCE(Function):
    """-(y log x + (1 - y) log(1 - x)), each log clamped at -100 as PyTorch clamps it (so x = 0 or 1
    costs at most 100); d/dx = (x - y) / max(x (1 - x), ε), d/dy = -log(x / (1 - x)), both as PyTorch
    computes them: ε is its 1e-12 stored in float32 (9.99999996e-13), and d/dy is ±inf at x = 0 or 1."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore"):
            return -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        gx = g * (x - y) / (x * (1 - x)).clamp(min=_BCE_EPSILON) if need_x else None
        with np.errstate(divide="ignore"):
            gy = -g * (x / (1 - x)).log() if need_y else None
        return gx, gy


_BCE_EPSILON = float(np.float32(1e-12))


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities x in [0, 1] against targets y, as F.binary_cross_entropy."""
    name = "binary_cross_entropy"
    _check_reduction(reduction, name)
    x, y = _same_shape(input, target, name)
    if x._data.size and not ((x._data >= 0) & (x._data <= 1)).all():
        raise ValueError(f"{name}: all elements of input should be between 0 and 1, got values in "
                         f"[{x._data.min()}, {x._data.max()}]")
    losses = BCE.apply(x, y)
    if weight is not None:
        losses = losses * weight
    return reduce_losses(losses, reduction)
