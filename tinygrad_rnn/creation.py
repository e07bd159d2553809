"""Tensor factories with PyTorch's signatures: tensor, zeros, ones, full, randn, rand, arange, *_like."""
import numpy as np

from .random import generator
from .tensor import Tensor, as_dtype, check_device, get_default_dtype


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size must be non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _dtype(dtype):
    return get_default_dtype() if dtype is None else as_dtype(dtype)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf tensor copying data (Python floats take the default dtype, arrays keep theirs)."""
    check_device(device)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing the array's memory (writes to either show in both)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor._make(array)


def _typed(dtype, doc):
    def make(*data):
        """Old-style constructor: a list of values, or sizes for zeros."""
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            return Tensor(data[0], dtype=dtype)
        return zeros(*data, dtype=dtype)
    make.__doc__ = doc
    make.tensor_dtype = np.dtype(dtype)
    return make


FloatTensor = _typed(np.float32, "torch.FloatTensor(data) or FloatTensor(*size): float32.")
DoubleTensor = _typed(np.float64, "torch.DoubleTensor: float64.")
LongTensor = _typed(np.int64, "torch.LongTensor: int64.")
IntTensor = _typed(np.int32, "torch.IntTensor: int32.")
BoolTensor = _typed(np.bool_, "torch.BoolTensor: bool.")


def _filled(fill, size, dtype, requires_grad, device=None):
    check_device(device)
    t = Tensor._make(fill(_size(size), dtype=_dtype(dtype)))
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _filled(np.zeros, size, dtype, requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """Zeros (NumPy's uninitialised memory would make runs differ)."""
    return _filled(np.zeros, size, dtype, requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _filled(np.ones, size, dtype, requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of fill_value; without dtype, torch.full's: bool for a bool, int64 for an int, else the default."""
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, (int, np.integer)):
        dtype = np.int64
    return _filled(lambda s, dtype: np.full(s, fill_value, dtype=dtype), (size,), dtype, requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the global generator (see manual_seed)."""
    return _filled(lambda s, dtype: generator().standard_normal(s).astype(dtype), size, dtype, requires_grad,
                   device)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the global generator."""
    return _filled(lambda s, dtype: generator().random(s).astype(dtype), size, dtype, requires_grad, device)


def randint(low, high, size=None, dtype=np.int64, device=None):
    """Integers in [low, high); randint(high, size) starts at 0, as in PyTorch."""
    check_device(device)
    if size is None:
        low, high, size = 0, low, high
    return Tensor._make(generator().integers(low, high, size=_size((size,))).astype(as_dtype(dtype)))


def arange(start=0, end=None, step=1, dtype=None, device=None):
    """Like torch.arange: integers give int64, any float gives the default float dtype."""
    check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:  # PyTorch refuses rather than return an empty range
        raise ValueError(f"arange: the bounds [{start}, {end}) and step {step} disagree in sign")
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


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(tuple(t.shape), fill_value, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False):
    """Indices drawn from each row of non-negative weights (1-D or 2-D), from the global generator."""
    w = np.asarray(input._data if isinstance(input, Tensor) else input, dtype=np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected 1-D or 2-D weights, got shape {w.shape}")
    rows = w.reshape(-1, w.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
        raise ValueError("multinomial: weights must be finite, non-negative, with a positive sum per row")
    if not replacement and num_samples > np.count_nonzero(rows, axis=1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{np.count_nonzero(rows, axis=1).min()} non-zero weights")
    rng = generator()
    out = np.stack([rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return Tensor._make(out.reshape(w.shape[:-1] + (num_samples,)).astype(np.int64))
