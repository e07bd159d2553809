"""Neural-network ops: softmax, log_softmax, cross_entropy, nll_loss, mse/l1 losses,
binary_cross_entropy_with_logits, embedding, dropout. Row-wise hot loops run in numba kernels."""
import numpy as np

from ..autograd import Function
from ..kernels import scatter, softmax as ksoftmax
from ..random import generator
from ..tensor import Tensor, ShapeError
from .elementwise import to_tensor, sigmoid
from .reduce import normalize_dims
from .shape import ScatterAdd

_REDUCTIONS = ("mean", "sum", "none")


def _rows(x, dim):
    """x with dim moved last, as a C-contiguous (N, C) array, and how to undo it."""
    if dim == x.ndim - 1 and x.flags.c_contiguous:
        return x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1]), x.shape
    moved = np.moveaxis(x, dim, -1)
    n = int(np.prod(moved.shape[:-1]))  # not -1: ambiguous when C == 0
    return np.ascontiguousarray(moved).reshape(n, moved.shape[-1]), moved.shape


def _along(kernel, x, dim):
    """kernel over the rows of x along dim; the kernels need C >= 1, so an empty dim stays empty."""
    rows, moved = _rows(x, dim)
    out = kernel(rows) if rows.shape[1] else rows.copy()
    return out.reshape(moved) if dim == x.ndim - 1 else np.moveaxis(out.reshape(moved), -1, dim)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = _along(ksoftmax.softmax_rows, x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(dim=ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = _along(ksoftmax.log_softmax_rows, x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return LogSoftmaxGrad.apply(g, y, ctx.dim), None


class LogSoftmaxGrad(Function):
    """g - exp(y) Σ g along dim, one node; its own backward is composed (so it differentiates again):
    d/dg = gg - Σ gg exp(y), d/dy = -gg exp(y) Σ g."""

    @staticmethod
    def forward(ctx, g, y, dim):
        ctx.save_for_backward(g, y)
        ctx.dim = dim
        return g - np.exp(y) * g.sum(axis=dim, keepdims=True)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        s = y.exp()
        need_g, need_y = ctx.needs_input_grad[:2]
        return ((gg - (gg * s).sum(dim=ctx.dim, keepdim=True)) if need_g else None,
                (-gg * s * g.sum(dim=ctx.dim, keepdim=True)) if need_y else None, None)


def _float_input(x, name):
    x = to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {x.dtype}")
    return x


def softmax(x, dim=-1):
    x = _float_input(x, "softmax")
    dims = normalize_dims(dim, x.ndim, "softmax")  # () for a 0-d tensor
    return Softmax.apply(x, dims[0]) if x.ndim else Softmax.apply(x.reshape(1), 0).reshape(())


def log_softmax(x, dim=-1):
    x = _float_input(x, "log_softmax")
    dims = normalize_dims(dim, x.ndim, "log_softmax")  # () for a 0-d tensor
    return LogSoftmax.apply(x, dims[0]) if x.ndim else LogSoftmax.apply(x.reshape(1), 0).reshape(())


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


def _reduce(losses, reduction, count=None):
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
    return _reduce(losses, reduction, int((t != ignore_index).sum()))


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
        if not count:
            return rows.sum() * float("nan")  # no row counts: the mean is nan, as in PyTorch
        weights = weights / count
    losses = NLL.apply(rows, np.where(keep, t, 0), weights, reduction == "none")
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
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    _check_reduction(reduction, "l1_loss")
    a, b = _same_shape(input, target, "l1_loss")
    return _reduce((a - b).abs(), reduction)


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
    return _reduce(losses, reduction)


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


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity in eval)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _float_input(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = generator().random(x.shape) >= p
    return x * (keep / (1.0 - p)).astype(x.dtype)
