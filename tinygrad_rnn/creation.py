"""Tensor factories with PyTorch's signatures: tensor, zeros, ones, full, randn, rand, arange, *_like."""
import numpy as np

from .random import generator
from .tensor import Tensor, get_default_dtype


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size must be non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf tensor copying data (Python floats take the default dtype, arrays keep theirs)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _filled(fill, size, dtype, requires_grad):
    t = Tensor._make(fill(_size(size), dtype=_dtype(dtype)))
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*size, dtype=None, requires_grad=False):
    return _filled(np.zeros, size, dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _filled(np.ones, size, dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    return _filled(lambda s, dtype: np.full(s, fill_value, dtype=dtype), (size,), dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal samples from the global generator (see manual_seed)."""
    return _filled(lambda s, dtype: generator().standard_normal(s).astype(dtype), size, dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) from the global generator."""
    return _filled(lambda s, dtype: generator().random(s).astype(dtype), size, dtype, requires_grad)


def randint(low, high, size, dtype=np.int64):
    return Tensor._make(generator().integers(low, high, size=_size((size,))).astype(dtype))


def arange(start, end=None, step=1, dtype=None):
    """Like torch.arange: integers give int64, any float gives the default float dtype."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = get_default_dtype() if floats else np.int64
    return Tensor._make(np.arange(start, end, step).astype(dtype))


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(*t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(*t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    return randn(*t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)
