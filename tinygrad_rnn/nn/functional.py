"""torch.nn.functional's names for the ops (import as F), plus linear, layer_norm, rms_norm and one_hot."""
import numpy as np

from ..ops import tanh, sigmoid  # noqa: F401  (re-exported)
from ..ops import embedding as _embedding
from ..autograd import no_grad
from .activations import (relu, dropout, leaky_relu, elu, silu, gelu,  # noqa: F401  (re-exported)
                          softplus, logsigmoid, hardtanh, relu6, softsign, tanhshrink, softmin, softmax, log_softmax,
                          selu, celu, mish, hardsigmoid, hardswish, softshrink, hardshrink, threshold, glu, prelu,
                          relu_, elu_, leaky_relu_, hardtanh_, threshold_, selu_, celu_)
from .distances import normalize, cosine_similarity, pairwise_distance  # noqa: F401  (re-exported)
from .padding import pad  # noqa: F401  (re-exported)
from ..ops.ctc import ctc_loss  # noqa: F401  (re-exported)
from ..ops.elementwise import to_tensor
from ..ops.linalg import linear as _linear
from ..tensor import Tensor, ShapeError


def linear(input, weight, bias=None):
    """input @ weightᵀ + bias, for input (..., in), weight (out, in), bias (out,)."""
    x = to_tensor(input)
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: expected input of size {weight.shape[1]} in its last dim, got shape {x.shape}")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype} "
                        "(convert one with .to(), .double() or .float())")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: bias must be a vector of size {weight.shape[0]}, got shape {bias.shape}")
    if bias is not None and bias.dtype != weight.dtype:
        raise TypeError(f"linear: bias dtype {bias.dtype} differs from weight dtype {weight.dtype}")
    return _linear(x, weight, bias)


def _normalized_dims(input, normalized_shape, name, **affine):
    """(the input as a float Tensor, the trailing dims normalized_shape names), checked, with the
    affine tensors' dtypes."""
    x = to_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"{name}: expected input with trailing shape {shape}, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {x.dtype}")
    for arg, p in affine.items():
        if p is not None and p.dtype != x.dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} differs from {arg} dtype {p.dtype} "
                            "(convert one with .to(), .double() or .float())")
    return x, tuple(range(x.ndim - len(shape), x.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / √(var + eps) over the trailing normalized_shape dims (biased var), then affine.

    Composed from ops, so it is twice differentiable.
    """
    x, dims = _normalized_dims(input, normalized_shape, "layer_norm", weight=weight, bias=bias)
    centered = x - x.mean(dim=dims, keepdim=True)
    y = centered / ((centered * centered).mean(dim=dims, keepdim=True) + eps).sqrt()
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / √(mean(x²) + eps) over the trailing normalized_shape dims, times weight (Zhang & Sennrich
    2019); eps=None is the dtype's machine epsilon, as PyTorch's."""
    x, dims = _normalized_dims(input, normalized_shape, "rms_norm", weight=weight)
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    y = x * ((x * x).mean(dim=dims, keepdim=True) + eps) ** -0.5
    return y if weight is None else y * weight


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight at integer indices, as F.embedding. max_norm first rescales, in place, each
    looked-up row whose norm_type-norm exceeds it to max_norm / (norm + 1e-7) of itself (PyTorch's
    renorm); scale_grad_by_freq divides each row's gradient by its index's count in input. sparse is
    accepted, and the gradient is dense."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if max_norm is not None and idx.size and idx.dtype.kind in "iu" and 0 <= idx.min() and idx.max() < len(weight):
        rows = np.unique(idx)
        with no_grad():
            norms = np.linalg.norm(weight._data[rows], ord=norm_type, axis=1)
            big = norms > max_norm
            scale = (max_norm / (norms[big] + 1e-7)).astype(weight.dtype)
            weight._data[rows[big]] *= scale[:, None]
            weight._version[0] += 1
    out = _embedding(input, weight, padding_idx)
    if not scale_grad_by_freq or not out.requires_grad:
        return out
    _, inverse, counts = np.unique(idx, return_inverse=True, return_counts=True)
    per_row = (1.0 / counts[inverse]).reshape(idx.shape + (1,)).astype(out.dtype)
    return out * per_row + out.detach() * (1.0 - per_row)  # the value of out; the gradient divided by count


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,), one 1 per row at each index;
    num_classes=-1 means max index + 1."""
    idx = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {idx.dtype}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    return Tensor._make((idx[..., None] == np.arange(num_classes)).astype(np.int64))
from ..ops.masked import masked_softmax  # noqa: F401,E402  (re-exported)
from .losses import (cross_entropy, nll_loss, mse_loss, l1_loss,  # noqa: F401,E402  (re-exported)
                     huber_loss, smooth_l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits, kl_div,
                     poisson_nll_loss, gaussian_nll_loss)
from .margin_losses import (margin_ranking_loss, hinge_embedding_loss,  # noqa: F401,E402  (re-exported)
                            cosine_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss, triplet_margin_loss)
from .attention import dot_attention, additive_attention, scaled_dot_product_attention  # noqa: F401,E402
from .batch_norm import batch_norm  # noqa: F401,E402  (re-exported)
from .conv import conv1d, max_pool1d, avg_pool1d, adaptive_avg_pool1d  # noqa: F401,E402  (re-exported)
