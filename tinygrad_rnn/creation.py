"""Tensor factories with PyTorch's signatures: tensor, zeros, ones, full, randn, rand, arange, *_like."""
import numpy as np

from .random import generator
from .tensor import Tensor, as_array, as_dtype, check_device, get_default_dtype


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
    t = Tensor._make(as_array(data, dtype))
    return t.requires_grad_(requires_grad) if requires_grad else t


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


def empty_like(t, dtype=None, requires_grad=False):
    return zeros_like(t, dtype, requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    return rand(*t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def randint_like(t, low=0, high=None, dtype=None, requires_grad=False):
    low, high = (0, low) if high is None else (low, high)
    return randint(low, high, tuple(t.shape), dtype=t.dtype if dtype is None else dtype)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity (m = n by default)."""
    check_device(device)
    t = Tensor._make(np.eye(n, n if m is None else m, dtype=_dtype(dtype)))
    return t.requires_grad_(requires_grad) if requires_grad else t


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """steps evenly spaced values from start to end, both included."""
    check_device(device)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    t = Tensor._make(np.linspace(start, end, steps).astype(_dtype(dtype)))
    return t.requires_grad_(requires_grad) if requires_grad else t


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """base ** linspace(start, end, steps)."""
    t = Tensor._make(np.power(base, linspace(start, end, steps, dtype=np.float64)._data).astype(_dtype(dtype)))
    return t.requires_grad_(requires_grad) if requires_grad else t


def randperm(n, dtype=np.int64, device=None):
    """A random permutation of 0..n-1, from the global generator."""
    check_device(device)
    return Tensor._make(generator().permutation(n).astype(as_dtype(dtype)))


def bernoulli(input):
    """1 with probability input (elementwise), else 0, in input's dtype."""
    p = input._data if isinstance(input, Tensor) else np.asarray(input)
    return Tensor._make((generator().random(p.shape) < p).astype(p.dtype))


def normal(mean, std, size=None):
    """Samples of N(mean, std²): tensors of means and stds (broadcast), or numbers and a size."""
    m = mean._data if isinstance(mean, Tensor) else np.asarray(mean, dtype=get_default_dtype())
    s = std._data if isinstance(std, Tensor) else np.asarray(std, dtype=get_default_dtype())
    shape = _size((size,)) if size is not None else np.broadcast_shapes(m.shape, s.shape)
    return Tensor._make((generator().standard_normal(shape) * s + m).astype(np.result_type(m, s)))


def broadcast_shapes(*shapes):
    return np.broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,) for s in shapes))


def broadcast_tensors(*tensors):
    """The tensors expanded to their common shape."""
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D tensors (indexing 'ij' or 'xy', as numpy.meshgrid)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[:2] = [1, 0]
    shape = tuple(tensors[i].numel() for i in order)
    grids = []
    for k, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(k)] = -1
        grids.append(t.reshape(*view).expand(*shape))
    return tuple(grids)


def tril_indices(row, col, offset=0, dtype=np.int64):
    return Tensor._make(np.stack(np.tril_indices(row, offset, col)).astype(as_dtype(dtype)))


def triu_indices(row, col, offset=0, dtype=np.int64):
    return Tensor._make(np.stack(np.triu_indices(row, offset, col)).astype(as_dtype(dtype)))
