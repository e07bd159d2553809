"""torch.nn.functional's margin and embedding losses (for ranking, metric learning and multi-label
targets), composed of differentiable ops: margin_ranking_loss, hinge_embedding_loss,
cosine_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss, triplet_margin_loss. Each
takes the deprecated size_average/reduce pair as the other losses do."""
import numpy as np

from ..ops import losses as fused
from ..ops.elementwise import floated, to_tensor, where
from .activations import logsigmoid, softplus
from .distances import pairwise_distance
from .losses import legacy_reduction

COSINE_EPS = float(np.float32(1e-12))  # PyTorch's constant, a float32 1e-12 (it shows for a zero vector)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -y (x1 - x2) + margin), for targets y = ±1 (which input should rank higher)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "margin_ranking_loss")
    x1, x2 = floated(input1, "margin_ranking_loss"), floated(input2, "margin_ranking_loss")
    return fused.reduce_losses((-to_tensor(target, x1) * (x1 - x2) + margin).clamp_min(0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (x a distance, y whether the pair is similar)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    x, y = floated(input, "hinge_embedding_loss"), to_tensor(target)._data
    losses = where(y != -1, x, 0.0) + where(y != 1, (margin - x).clamp_min(0.0), 0.0)
    return fused.reduce_losses(losses, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1; rows along the last dim
    (cos = x1·x2 / √((‖x1‖² + ε)(‖x2‖² + ε)), ε = COSINE_EPS, PyTorch's)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "cosine_embedding_loss")
    a, b = floated(input1, "cosine_embedding_loss"), floated(input2, "cosine_embedding_loss")
    cos = (a * b).sum(-1) / (((a * a).sum(-1) + COSINE_EPS) * ((b * b).sum(-1) + COSINE_EPS)).sqrt()
    y = to_tensor(target)._data
    losses = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, (cos - margin).clamp_min(0.0), 0.0)
    return fused.reduce_losses(losses, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + e^{-y x}), for targets y = ±1 (a smooth hinge)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "soft_margin_loss")
    x = floated(input, "soft_margin_loss")
    return fused.reduce_losses(softplus(-to_tensor(target, x) * x), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-mean over the C classes of w (y log σ(x) + (1 - y) log σ(-x)), one loss per row of (N, C)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    x = floated(input, "multilabel_soft_margin_loss")
    y = to_tensor(target, x)
    losses = -(y * logsigmoid(x) + (1.0 - y) * logsigmoid(-x))
    losses = losses if weight is None else losses * weight
    return fused.reduce_losses(losses.mean(-1), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-distance; swap uses min(d(a, n), d(p, n))."""
    reduction = legacy_reduction(size_average, reduce, reduction, "triplet_margin_loss")
    if not margin > 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return fused.reduce_losses((d_pos - d_neg + margin).clamp_min(0.0), reduction)
