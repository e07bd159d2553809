"""Gradient clipping and flattening parameters to one vector, as torch.nn.utils; utils.rnn holds
padded and packed sequences.

Clipping replaces each .grad by a new tensor rather than scaling it in place: the engine may hand
the same gradient tensor (or a read-only broadcast view) to several leaves.
"""
import math

import numpy as np

from ...autograd import no_grad
from ...ops import cat
from ...tensor import Tensor, get_default_dtype
from . import rnn  # noqa: F401  (nn.utils.rnn, as torch.nn.utils.rnn)


def _as_list(parameters, name):
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{name}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}") from None
    for k, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameters[{k}] must be a Tensor, got {type(p).__name__}")
    return params


def _with_grads(parameters, name):
    """The distinct parameters that have a gradient (a parameter listed twice is clipped once)."""
    seen, out = set(), []
    for p in _as_list(parameters, name):
        if p.grad is not None and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most max_norm (foreach, a speed
    option of PyTorch's, is accepted and changes nothing).

    The joint norm is the norm_type-norm of the per-tensor norms (inf: the largest |g|). Gradients
    are multiplied by max_norm / (total_norm + 1e-6) when that is below 1 (or nan: a nan norm makes
    every gradient nan, as in PyTorch, rather than leaving them unclipped). Returns the total norm
    before clipping, as a 0-d Tensor.
    """
    try:
        max_norm, norm_type = float(max_norm), float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"clip_grad_norm_: max_norm and norm_type must be numbers, got {max_norm!r} "
                        f"and {norm_type!r}") from None
    params = _with_grads(parameters, "clip_grad_norm_")
    if not params:
        return Tensor._make(np.asarray(0.0, dtype=get_default_dtype()))
    norms = [np.linalg.norm(p.grad._data.astype(np.float64).ravel(), ord=norm_type) for p in params]
    total = float(np.linalg.norm(np.asarray(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{total}, so they cannot be clipped; pass error_if_nonfinite=False to skip this check")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:
        with np.errstate(invalid="ignore"):  # an infinite norm gives coef 0 and inf * 0 = nan, as PyTorch
            for p in params:
                p.grad = Tensor._make((p.grad._data * coef).astype(p.grad.dtype))
    return Tensor._make(np.asarray(total, dtype=params[0].grad.dtype))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] (a number or a one-element Tensor;
    foreach is accepted and changes nothing)."""
    if isinstance(clip_value, Tensor) and clip_value._data.size == 1 and clip_value.dtype.kind in "iuf":
        clip_value = float(clip_value._data)
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float)) or clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a non-negative number, got {clip_value!r}")
    for p in _with_grads(parameters, "clip_grad_value_"):
        p.grad = Tensor._make(np.clip(p.grad._data, -clip_value, clip_value).astype(p.grad.dtype))


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable, as PyTorch's)."""
    params = _as_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D vec into the parameters (cast to their dtypes), in place."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: vec must be a Tensor, got {type(vec).__name__}")
    params = _as_list(parameters, "vector_to_parameters")
    total = sum(p._data.size for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vec must be 1-D with {total} elements (the parameters' "
                         f"total), got shape {vec.shape}")
    offset = 0
    with no_grad():
        for p in params:
            p._data[...] = vec._data[offset:offset + p._data.size].reshape(p.shape)
            offset += p._data.size
