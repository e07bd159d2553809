"""Loss modules with PyTorch's names and constructor arguments: NLLLoss, CrossEntropyLoss, MSELoss,
L1Loss, BCEWithLogitsLoss. Without class weights (or pos_weight, or probability targets) they call
nn.functional's fused losses; those options are composed of differentiable ops here.

A class `weight` is a buffer (so it is in state_dict, as PyTorch's); with reduction='mean' a
weighted loss is divided by the total weight of the targets that count, as PyTorch divides.
The deprecated size_average/reduce arguments map onto reduction as PyTorch maps them.
"""
import warnings

import numpy as np

from . import functional as F
from .module import Module
from ..ops.special import log1p
from ..ops.elementwise import to_tensor
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


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction='mean'):
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction='mean'):
        super().__init__(size_average, reduce, reduction)
        if weight is not None and not isinstance(weight, Tensor):
            raise TypeError(f"{type(self).__name__}: weight must be a Tensor or None, got {type(weight).__name__}")
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
    F.nll_loss(input, target, ignore_index=ignore_index, reduction="none")  # PyTorch's checks, one place
    rows = _class_last(input)
    t = np.asarray(target.detach().numpy() if isinstance(target, Tensor) else target).reshape(-1)
    keep = t != ignore_index
    safe = np.where(keep, t, 0).astype(np.int64)
    w = _class_weights(weight, rows.shape[1], rows.dtype, name)[safe] * keep
    losses = -(rows[np.arange(len(t)), safe] * w)
    if reduction == "none":
        shape = () if input.ndim == 1 else input.shape[:1] + input.shape[2:]
        return losses.reshape(shape)
    return losses.sum() if reduction == "sum" else losses.sum() / float(w.sum())


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing, name):
    """-Σ_c w_c·y_c·log softmax(x)_c per sample, for class probabilities y (target's shape is input's)."""
    target = to_tensor(target, input)
    if target.shape != input.shape:
        raise ShapeError(f"{name}: probability targets must have the input's shape {input.shape}, "
                         f"got {target.shape}")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    logp = F.log_softmax(input, dim=class_dim)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    terms = logp * target
    if weight is not None:
        w = _class_weights(weight, n_classes, input.dtype, name)
        terms = terms * w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))
    losses = -terms.sum(dim=class_dim)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d...) at class indices."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        if self.weight is None:
            return F.nll_loss(input, target, ignore_index=self.ignore_index, reduction=self.reduction)
        return _weighted_nll(input, target, self.weight, self.ignore_index, self.reduction, "NLLLoss")


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
        name, eps = "CrossEntropyLoss", self.label_smoothing
        input = to_tensor(input)
        if to_tensor(target).dtype.kind == "f":
            return _soft_cross_entropy(input, target, self.weight, self.reduction, eps, name)
        if self.weight is None:
            return F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction,
                                   label_smoothing=eps)
        class_dim = 0 if input.ndim == 1 else 1
        logp = F.log_softmax(input, dim=class_dim)
        nll = _weighted_nll(logp, target, self.weight, self.ignore_index, self.reduction, name)
        if not eps:
            return nll
        # label smoothing: (1 - ε)·nll + ε/C·(-Σ_c w_c log p_c), the second term normalised as the first
        n_classes = input.shape[class_dim]
        w = _class_weights(self.weight, n_classes, input.dtype, name)
        smooth = -(logp * w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))).sum(dim=class_dim)
        t = np.asarray(target.detach().numpy() if isinstance(target, Tensor) else target)
        keep = t != self.ignore_index
        smooth = smooth * keep.astype(input.dtype)
        if self.reduction == "sum":
            smooth = smooth.sum()
        elif self.reduction == "mean":
            smooth = smooth.sum() / float(w[np.where(keep, t, 0)][keep].sum())
        return nll * (1.0 - eps) + smooth * (eps / n_classes)


class MSELoss(_Loss):
    """Mean (or sum) of squared differences."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean (or sum) of absolute differences."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits x against targets y in [0, 1]:
    -w·[p·y·log σ(x) + (1 - y)·log(1 - σ(x))], with pos_weight p broadcast along the last dim."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction='mean', pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        for arg, value in (("weight", weight), ("pos_weight", pos_weight)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"BCEWithLogitsLoss: {arg} must be a Tensor or None, got {type(value).__name__}")
        self.register_buffer('weight', weight)
        self.register_buffer('pos_weight', pos_weight)

    def forward(self, input, target):
        if self.pos_weight is None:
            return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction)
        x = to_tensor(input)
        y = to_tensor(target, x)
        if x.shape != y.shape:
            raise ShapeError(f"BCEWithLogitsLoss: target of shape {y.shape} must match input of shape {x.shape}")
        # log(1 + e^{-x}) = max(-x, 0) + log1p(e^{-|x|})
        softplus_neg = (-x).relu() + log1p((-x.abs()).exp())
        losses = (1.0 - y) * x + ((self.pos_weight - 1.0) * y + 1.0) * softplus_neg
        if self.weight is not None:
            losses = losses * self.weight
        if self.reduction == "none":
            return losses
        return losses.sum() if self.reduction == "sum" else losses.mean()
