"""Losses with PyTorch's names and arguments, as functions (nn.functional's cross_entropy, nll_loss,
mse_loss, l1_loss, huber_loss, smooth_l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
in torch.nn.functional's argument order) and as modules (NLLLoss, CrossEntropyLoss, MSELoss, L1Loss,
HuberLoss, SmoothL1Loss, BCELoss, BCEWithLogitsLoss) that call them. Without
class weights (or pos_weight, or probability targets) they run the fused losses of ops.losses;
those options are composed of differentiable ops here.

A class `weight` is a buffer (so it is in state_dict, as PyTorch's); with reduction='mean' a
weighted loss is divided by the total weight of the targets that count, as PyTorch divides.
The deprecated size_average/reduce arguments map onto reduction as PyTorch maps them.
"""
import warnings

import numpy as np

from .module import Module
from ..ops import losses as fused
from ..ops.softmax import log_softmax
from .activations import softplus_unit
from ..ops.elementwise import to_tensor, where
from ..tensor import Tensor, ShapeError

_REDUCTIONS = ("mean", "sum", "none")


def legacy_reduction(size_average, reduce, reduction, name):
    """reduction from PyTorch's deprecated size_average/reduce pair, when either is given."""
    if size_average is None and reduce is None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                  "instead.", UserWarning, stacklevel=3)
    return reduction


def _check_weight(weight, arg, name):
    if weight is not None and not isinstance(weight, Tensor):
        raise TypeError(f"{name}: {arg} must be a Tensor or None, got {type(weight).__name__}")


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction='mean'):
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction='mean'):
        super().__init__(size_average, reduce, reduction)
        _check_weight(weight, "weight", type(self).__name__)
        self.register_buffer('weight', weight)


def _class_weights(weight, n_classes, dtype, name):
    w = weight.detach().numpy()
    if w.shape != (n_classes,):
        raise ShapeError(f"{name}: weight must have shape ({n_classes},) for {n_classes} classes, got {w.shape}")
    return w.astype(dtype, copy=False)


def _class_last(x):
    """(N, C, d...) -> (N·d..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def _weighted_nll(input, target, weight, ignore_index, reduction, name):
    """-w[t]·input[t] per sample; 'mean' divides by Σ w[t] over the targets not ignored."""
    fused.nll_loss(input, target, ignore_index=ignore_index, reduction="none")  # PyTorch's checks, one place
    rows = _class_last(input)
    t = np.asarray(target.detach().numpy() if isinstance(target, Tensor) else target).reshape(-1)
    keep = t != ignore_index
    safe = np.where(keep, t, 0).astype(np.int64)
    w = _class_weights(weight, rows.shape[1], rows.dtype, name)[safe] * keep
    losses = -(rows[np.arange(len(t)), safe] * w)
    if reduction == "none":
        shape = () if input.ndim == 1 else input.shape[:1] + input.shape[2:]
        return losses.reshape(shape)
    return losses.sum() if reduction == "sum" else _over_weight(losses.sum(), w.sum())


def _over_weight(total, weight_sum):
    """total / weight_sum; NaN when no target counts (weight_sum = 0), with a zero gradient rather
    than 0 · inf, as PyTorch's."""
    return total / float(weight_sum) if weight_sum else total * 0.0 + float("nan")


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing, name):
    """-Σ_c w_c·y_c·log softmax(x)_c per sample, for class probabilities y (target's shape is input's)."""
    target = to_tensor(target, input)
    if target.shape != input.shape:
        raise ShapeError(f"{name}: probability targets must have the input's shape {input.shape}, "
                         f"got {target.shape}")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    logp = log_softmax(input, dim=class_dim)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    terms = logp * target
    if weight is not None:
        w = _class_weights(weight, n_classes, input.dtype, name)
        terms = terms * w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))
    return fused.reduce_losses(-terms.sum(dim=class_dim), reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d...) at class indices, as
    F.nll_loss; 'mean' with a class weight divides by the total weight of the targets that count."""
    reduction = legacy_reduction(size_average, reduce, reduction, "nll_loss")
    _check_weight(weight, "weight", "nll_loss")
    if weight is None:
        return fused.nll_loss(input, target, ignore_index=ignore_index, reduction=reduction)
    return _weighted_nll(to_tensor(input), target, weight, ignore_index, reduction, "nll_loss")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits against class indices or class probabilities (a float target of the
    input's shape), as F.cross_entropy: log_softmax along the class dim (1, or 0 for (C,)), then NLL."""
    name, eps = "cross_entropy", label_smoothing
    reduction = legacy_reduction(size_average, reduce, reduction, name)
    _check_weight(weight, "weight", name)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {eps}")
    input = to_tensor(input)
    if to_tensor(target).dtype.kind == "f":
        return _soft_cross_entropy(input, target, weight, reduction, eps, name)
    if weight is None:
        return fused.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, dim=class_dim)
    nll = _weighted_nll(logp, target, weight, ignore_index, reduction, name)
    if not eps:
        return nll
    # label smoothing: (1 - ε)·nll + ε/C·(-Σ_c w_c log p_c), the second term normalised as the first
    n_classes = input.shape[class_dim]
    w = _class_weights(weight, n_classes, input.dtype, name)
    smooth = -(logp * w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))).sum(dim=class_dim)
    t = np.asarray(target.detach().numpy() if isinstance(target, Tensor) else target)
    keep = t != ignore_index
    smooth = smooth * keep.astype(input.dtype)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        smooth = _over_weight(smooth.sum(), w[np.where(keep, t, 0)][keep].sum())
    return nll * (1.0 - eps) + smooth * (eps / n_classes)


def _broadcast_target(input, target, name):
    """input and target broadcast to one shape, with PyTorch's warning when their shapes differ
    (a (N, 1) prediction against an (N,) target silently becomes an (N, N) loss otherwise)."""
    x = to_tensor(input)
    y = to_tensor(target, x)
    if x.shape != y.shape:
        try:
            shape = np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ShapeError(f"{name}: input of shape {x.shape} and target of shape {y.shape} cannot be "
                             "broadcast together") from None
        warnings.warn(f"{name}: using a target size ({y.shape}) that is different to the input size ({x.shape}); "
                      "this will likely lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", UserWarning, stacklevel=3)
        x, y = x.expand(*shape), y.expand(*shape)
    return x, y


def _weighted(losses, weight, reduction, name):
    """PyTorch's weighted mse/l1: weight of the input's shape; 'mean' divides by the weights' sum."""
    _check_weight(weight, "weight", name)
    if weight.shape != losses.shape:
        raise ShapeError(f"{name}: weight of shape {weight.shape} must have the input's shape {losses.shape}")
    losses = losses * weight
    return losses.sum() / weight.sum() if reduction == "mean" else fused.reduce_losses(losses, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean (or sum, or none) of squared differences (times weight), as F.mse_loss."""
    reduction = legacy_reduction(size_average, reduce, reduction, "mse_loss")
    if weight is not None:
        return _weighted(fused.mse_loss(*_broadcast_target(input, target, "mse_loss"), reduction="none"), weight,
                         reduction, "mse_loss")
    return fused.mse_loss(*_broadcast_target(input, target, "mse_loss"), reduction=reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean (or sum, or none) of absolute differences (times weight), as F.l1_loss."""
    reduction = legacy_reduction(size_average, reduce, reduction, "l1_loss")
    if weight is not None:
        return _weighted(fused.l1_loss(*_broadcast_target(input, target, "l1_loss"), reduction="none"), weight,
                         reduction, "l1_loss")
    return fused.l1_loss(*_broadcast_target(input, target, "l1_loss"), reduction=reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """½ d² where |d| < delta, else delta (|d| - ½ delta), for d = input - target (times weight, of the
    input's shape, before the reduction), as F.huber_loss."""
    reduction = legacy_reduction(None, None, reduction, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _check_weight(weight, "weight", "huber_loss")
    input = to_tensor(input)
    if weight is not None and weight.shape != input.shape:
        raise ShapeError(f"huber_loss: weight of shape {weight.shape} must have the input's shape {input.shape}")
    d = fused.l1_loss(*_broadcast_target(input, target, "huber_loss"), reduction="none")
    losses = where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return fused.reduce_losses(losses if weight is None else losses * weight, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """½ d² / beta where |d| < beta, else |d| - ½ beta (beta = 0: the L1 loss), as F.smooth_l1_loss."""
    reduction = legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = fused.l1_loss(*_broadcast_target(input, target, "smooth_l1_loss"), reduction="none")
    if beta == 0:
        return fused.reduce_losses(d, reduction)
    return fused.reduce_losses(where(d < beta, (0.5 / beta) * d * d, d - 0.5 * beta), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities (each log clamped at -100), as F.binary_cross_entropy."""
    reduction = legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    _check_weight(weight, "weight", "binary_cross_entropy")
    return fused.binary_cross_entropy(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of logits x against targets y in [0, 1], as F.binary_cross_entropy_with_logits:
    -w·[p·y·log σ(x) + (1 - y)·log(1 - σ(x))], with pos_weight p broadcast along the last dim."""
    name = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction, name)
    for arg, value in (("weight", weight), ("pos_weight", pos_weight)):
        _check_weight(value, arg, name)
    if pos_weight is None:
        return fused.binary_cross_entropy_with_logits(input, target, weight, reduction=reduction)
    x = to_tensor(input)
    y = to_tensor(target, x)
    if x.shape != y.shape:
        raise ShapeError(f"{name}: target of shape {y.shape} must match input of shape {x.shape}")
    softplus_neg = softplus_unit(-x)  # log(1 + e^{-x}), whose gradient at x = 0 is -1/2
    losses = (1.0 - y) * x + ((pos_weight - 1.0) * y + 1.0) * softplus_neg
    return fused.reduce_losses(losses if weight is None else losses * weight, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target ‖ exp(input)) pointwise, for log-probabilities input: t (log t - x), 0 where t = 0
    (log_target: eᵗ (t - x)); reduction 'batchmean' divides the sum by the batch size (the KL
    divergence), 'mean' by the number of elements, as F.kl_div."""
    reduction = "batchmean" if reduction == "batchmean" and size_average is None and reduce is None else \
        legacy_reduction(size_average, reduce, reduction, "kl_div")
    x, t = _broadcast_target(input, target, "kl_div")
    if log_target:
        losses = t.exp() * (t - x)
    else:
        positive = t._data > 0
        losses = where(positive, t * where(positive, t, 1.0).log(), 0.0) - t * x
    if reduction == "batchmean":
        return losses.sum() / float(x.shape[0] if x.ndim else 1)
    return fused.reduce_losses(losses, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Negative log-likelihood of target under Poisson(rate): rate = eˣ (log_input) with loss eˣ - t x,
    else rate = x with loss x - t log(x + eps); full adds Stirling's t log t - t + ½ log(2πt) where t > 1."""
    reduction = legacy_reduction(size_average, reduce, reduction, "poisson_nll_loss")
    x, t = _broadcast_target(input, target, "poisson_nll_loss")
    losses = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        big = t._data > 1
        safe = where(big, t, 2.0)
        losses = losses + where(big, safe * safe.log() - safe + (safe * (2 * np.pi)).log() * 0.5, 0.0)
    return fused.reduce_losses(losses, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of target under N(input, var): ½ (log var + (input - target)² / var)
    (+ ½ log 2π when full). var (a number, or a tensor that broadcasts to the input, or one without
    its last dim) is clamped at eps with the gradient of the unclamped var, as PyTorch's."""
    reduction = legacy_reduction(None, None, reduction, "gaussian_nll_loss")
    x, t = to_tensor(input), to_tensor(target)
    var = to_tensor(var, x)
    if var.shape != x.shape and var.ndim and var.shape == x.shape[:-1]:
        var = var.unsqueeze(-1)
    try:
        np.broadcast_shapes(var.shape, x.shape)
    except ValueError:
        raise ShapeError(f"gaussian_nll_loss: var of shape {var.shape} must broadcast to the input's {x.shape} "
                         "(or drop its last dim)") from None
    if (var._data < 0).any():
        raise ValueError("gaussian_nll_loss: var has negative entries")
    var = var + (var.clamp_min(eps) - var).detach()
    losses = ((var.log() + (x - t) ** 2 / var) * 0.5)
    return fused.reduce_losses(losses + 0.5 * np.log(2 * np.pi) if full else losses, reduction)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d...) at class indices."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """log_softmax then NLLLoss, for logits; targets are class indices or class probabilities."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean',
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                             label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    """Mean (or sum) of squared differences."""

    def forward(self, input, target):
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean (or sum) of absolute differences."""

    def forward(self, input, target):
        return l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """½ d² inside ±delta, linear outside, for d = input - target."""

    def __init__(self, reduction='mean', delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """½ d² / beta inside ±beta, |d| - ½ beta outside."""

    def __init__(self, size_average=None, reduce=None, reduction='mean', beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities x in [0, 1] against targets y: -w·[y log x + (1 - y) log(1 - x)]."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction='mean'):
        super().__init__(size_average, reduce, reduction)
        _check_weight(weight, "weight", "BCELoss")
        self.register_buffer('weight', weight)

    def forward(self, input, target):
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits x against targets y in [0, 1]:
    -w·[p·y·log σ(x) + (1 - y)·log(1 - σ(x))], with pos_weight p broadcast along the last dim."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction='mean', pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        for arg, value in (("weight", weight), ("pos_weight", pos_weight)):
            _check_weight(value, arg, "BCEWithLogitsLoss")
        self.register_buffer('weight', weight)
        self.register_buffer('pos_weight', pos_weight)

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                pos_weight=self.pos_weight)
