"""Vectors' lengths and distances, as torch.nn.functional: normalize, cosine_similarity,
pairwise_distance (composed of ops, so twice differentiable)."""
import numpy as np

from ..ops.elementwise import floated


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(‖x‖_p, eps) along dim."""
    if out is not None:
        raise TypeError("normalize: out= is not supported; use the returned tensor")
    x = floated(input, "normalize")
    return x / x.norm(p, dim, keepdim=True).clamp_min(eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """x1·x2 / (max(‖x1‖, eps) max(‖x2‖, eps)) along dim (the inputs broadcast)."""
    a, b = floated(x1, "cosine_similarity"), floated(x2, "cosine_similarity")
    shape = np.broadcast_shapes(a.shape, b.shape)  # the norms are of the broadcast vectors
    a, b = a.expand(*shape), b.expand(*shape)
    return ((a / a.norm(dim=dim, keepdim=True).clamp_min(eps)) * (b / b.norm(dim=dim, keepdim=True).clamp_min(eps))
            ).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """‖x1 - x2 + eps‖_p along the last dim."""
    a, b = floated(x1, "pairwise_distance"), floated(x2, "pairwise_distance")
    return (a - b + eps).norm(p, -1, keepdim)
