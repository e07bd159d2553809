"""Tensor: a NumPy array with a gradient slot and a link to the graph node that produced it.

The array lives in `_data`; `.data` is PyTorch's: a Tensor sharing the storage, outside the graph.
In-place methods (`add_`, `+=`, `copy_`, ...) are recorded as PyTorch records them: the tensor is
re-pointed at a new graph node, and a version counter (shared with detach() and with views) lets
backward refuse a saved tensor that was modified after it was saved. A write through a view also
re-points its base (views.py).
"""
import numpy as np

from .random import generator

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8, bool_ = np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_
_default_dtype = np.dtype(np.float32)
_DTYPE_NAMES = {"float": np.float32, "float32": np.float32, "double": np.float64, "float64": np.float64,
                "half": np.float16, "float16": np.float16, "long": np.int64, "int64": np.int64,
                "int": np.int32, "int32": np.int32, "short": np.int16, "int16": np.int16, "int8": np.int8,
                "uint8": np.uint8, "bool": np.bool_}
_TYPE_NAMES = {"FloatTensor": np.float32, "DoubleTensor": np.float64, "LongTensor": np.int64,
               "IntTensor": np.int32, "BoolTensor": np.bool_, "HalfTensor": np.float16}


class ShapeError(ValueError, RuntimeError):
    """A shape mismatch. A ValueError, and a RuntimeError as in PyTorch."""


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Set the floating dtype of new tensors made from Python numbers (float32 unless changed)."""
    global _default_dtype
    dt = as_dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dt}")
    _default_dtype = dt


def as_dtype(dtype):
    """A NumPy dtype from a NumPy dtype, a type, or a name ('float', 'long', 'torch.float64', ...)."""
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        if name not in _DTYPE_NAMES:
            raise TypeError(f"dtype: unknown dtype name {dtype!r}; known: {', '.join(_DTYPE_NAMES)}")
        return np.dtype(_DTYPE_NAMES[name])
    return np.dtype(dtype)


class device:
    """torch.device for the one device this library has: the CPU."""

    __slots__ = ("type",)

    def __init__(self, type="cpu", index=None):
        type = str(type)
        if type.split(":")[0] != "cpu":
            raise RuntimeError(f"device: tinygrad_rnn is a CPU library; got device {type!r} (use 'cpu')")
        self.type = "cpu"

    index = property(lambda self: None)

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self):
        return hash("cpu")

    def __str__(self):
        return "cpu"

    def __repr__(self):
        return "device(type='cpu')"


def _is_device(x):
    return isinstance(x, device) or (isinstance(x, str) and x.removeprefix("torch.") not in _DTYPE_NAMES)


def check_device(dev):
    """None or the CPU; anything else raises (there is no other device)."""
    if dev is not None:
        device(dev.type if isinstance(dev, device) else dev)


class Size(tuple):
    """A tensor's shape: a tuple, printed as torch.Size."""

    def numel(self):
        return int(np.prod(self, dtype=np.int64))

    def __getitem__(self, key):
        part = tuple.__getitem__(self, key)
        return Size(part) if isinstance(key, slice) else part  # shape[1:] is a Size too

    def __repr__(self):
        return f"Size({list(self)})"

    def __format__(self, spec):
        return format(tuple.__repr__(self), spec)  # messages read "shape (2, 3)"


def to_numpy(value):
    """The array of a Tensor, an ndarray, or another library's tensor (anything with .numpy() or
    __array__), without a copy where one is not needed; any other value unchanged."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()  # e.g. PyTorch's
    return np.asarray(value) if hasattr(value, "__array__") else value


def as_array(data, dtype=None):
    """NumPy array from data: Python floats take the default dtype, NumPy arrays keep theirs."""
    data = to_numpy(data)
    if dtype is not None:
        return np.array(data, dtype=as_dtype(dtype))
    arr = np.array(data)
    if arr.dtype.kind in "USO":  # strings, bytes, ragged lists: PyTorch refuses them too
        raise ValueError(f"tensor: expected numbers (nested lists of equal lengths, or an array), got {arr.dtype} "
                         f"data of type {type(data).__name__}")
    if arr.dtype == np.float64 and not _is_numpy_float64(data):
        arr = arr.astype(_default_dtype)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    return arr


def _is_numpy_float64(data):
    return isinstance(data, (np.ndarray, np.float64)) and data.dtype == np.float64


def _size_args(size):
    """Accept f(2, 3) and f((2, 3)), as PyTorch does."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


class HookHandle:
    """What register_hook returns: remove() takes the hook off (again harmless); also a context manager."""

    def __init__(self, remove):
        self._remove = remove

    def remove(self):
        self._remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _without(hooks, hook):
    """hooks without the first entry that is hook (the same function may be registered twice)."""
    hooks = list(hooks or ())
    for k, h in enumerate(hooks):
        if h is hook:
            return hooks[:k] + hooks[k + 1:]
    return hooks


class Tensor:
    """An n-dimensional array that records the operations on it, for reverse-mode differentiation.

    Leaves (made by the user) keep accumulated gradients in .grad; non-leaves point at the graph
    node (ctx) that made them and which output of it they are (index).
    """

    __slots__ = ("_data", "grad", "requires_grad", "_ctx", "_index", "_hooks", "_version", "_base", "_view",
                 "_view_at", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data=None, *sizes, dtype=None, requires_grad=False):
        """torch.Tensor's legacy constructor: Tensor(data) with Python numbers and lists in the default
        float dtype (tg.tensor infers ints, as torch.tensor), arrays and tensors keeping theirs;
        Tensor(*sizes) zeros of that shape; Tensor() an empty one."""
        if isinstance(data, Size) and not sizes:
            data, sizes = (data[0], tuple(data[1:])) if data else (None, ())
        if data is None or (isinstance(data, (int, np.integer)) and not isinstance(data, bool) and dtype is None):
            shape = () if data is None else (data, *sizes)
            if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape):
                raise TypeError(f"Tensor(*sizes): sizes must be non-negative ints, got {shape}")
            self._data = np.zeros(shape or (0,), dtype=_default_dtype)
        elif sizes:
            raise TypeError(f"Tensor: got data and {len(sizes)} more positional arguments; dtype and requires_grad "
                            "are keyword arguments")
        else:
            legacy = dtype is None and isinstance(data, (bool, float, list, tuple))
            self._data = as_array(data, _default_dtype if legacy else dtype)
        self.grad = None
        self._ctx = None
        self._index = 0
        self._hooks = None
        self._version = [0]
        self._base = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad=False, ctx=None, index=0, version=None):
        t = object.__new__(cls)
        t._data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._index = index
        t._hooks = None
        t._version = [0] if version is None else version
        t._base = None
        return t

    # --- properties -----------------------------------------------------------------------------
    @property
    def data(self):
        """The same storage as a Tensor outside the graph (writes to it are not tracked)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else as_array(value)
        self._base = None  # new storage: no longer a view of anything

    shape = property(lambda self: Size(self._data.shape), doc="The shape, as a Size.")
    dtype = property(lambda self: self._data.dtype, doc="The NumPy dtype.")
    ndim = property(lambda self: self._data.ndim, doc="Number of dims.")
    is_leaf = property(lambda self: self._ctx is None, doc="Made by the user, not by an op.")
    grad_fn = property(lambda self: self._ctx, doc="The graph node that made this tensor (None for leaves).")
    device = property(lambda self: device("cpu"), doc="Always the CPU.")
    is_cuda = False
    T = property(lambda self: self.permute(*reversed(range(self.ndim))), doc="All dims reversed.")
    mT = property(lambda self: _ops.transpose(self, -2, -1), doc="The last two dims swapped (a batch of matrices).")

    def size(self, dim=None):
        """The shape as a Size, or the size of one dim."""
        return self.shape if dim is None else self._data.shape[dim]

    def numel(self):
        """Number of elements."""
        return self._data.size

    nelement = numel

    def dim(self):
        """Number of dims."""
        return self._data.ndim

    def element_size(self):
        """Bytes per element."""
        return self._data.itemsize

    def is_contiguous(self):
        """Whether the storage is C-contiguous."""
        return self._data.flags.c_contiguous

    def is_floating_point(self):
        """Whether the dtype is a float."""
        return self._data.dtype.kind == "f"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        """The rows, as PyTorch gives them: unbind(0), one node (not a GetItem per row, whose
        backwards would each add a gradient the size of the whole tensor)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(_ops.unbind(self, 0))

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", precision=4, prefix="tensor(")
        extra = "" if self.dtype in (_default_dtype, np.int64, np.bool_) else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.fn.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self._data.size != 1:
            raise ShapeError(f"the truth value of a tensor of shape {tuple(self.shape)} is ambiguous")
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype} "
                            f"{tuple(self.shape)}")
        return int(self._data)

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("__array__: call .detach() first on a tensor that requires grad")
        return self._data if dtype is None else self._data.astype(dtype)

    # --- conversion -----------------------------------------------------------------------------
    def numpy(self):
        """The array itself (shared memory), for a tensor that does not require grad."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return self._data

    def __format__(self, spec):
        """A one-element tensor formats as its number (f"{loss:.3f}"), others as str()."""
        if self._data.size == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    def item(self):
        """The one element as a Python number."""
        if self._data.size != 1:
            raise ShapeError(f"item(): only one-element tensors can be converted, got shape {tuple(self.shape)}")
        return self._data.reshape(()).item()

    def tolist(self):
        """Nested Python lists."""
        return self._data.tolist()

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """to(dtype), to(device), to(device, dtype), to(other): a cast (recorded), or self."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif _is_device(a):
                device = a
            else:
                dtype = a
        check_device(device)
        if dtype is None or self.dtype == as_dtype(dtype):
            return self.clone() if copy else self
        return _ops.cast(self, as_dtype(dtype))

    def cpu(self):
        """self (the CPU is the only device)."""
        return self

    def type(self, dtype=None):
        """The type name ('torch.FloatTensor') without an argument, else a cast to dtype."""
        if dtype is None:
            name = next((k for k, v in _TYPE_NAMES.items() if np.dtype(v) == self.dtype), str(self.dtype))
            return f"torch.{name}"
        if isinstance(dtype, str) and dtype.removeprefix("torch.") in _TYPE_NAMES:
            dtype = _TYPE_NAMES[dtype.removeprefix("torch.")]
        dtype = getattr(dtype, "tensor_dtype", dtype)  # LongTensor and friends name their dtype
        return self.to(dtype)

    def type_as(self, other):
        """Cast to other's dtype."""
        return self.to(other.dtype)

    def float(self):
        """Cast to float32."""
        return self.to(np.float32)

    def double(self):
        """Cast to float64."""
        return self.to(np.float64)

    def half(self):
        """Cast to float16."""
        return self.to(np.float16)

    def long(self):
        """Cast to int64."""
        return self.to(np.int64)

    def int(self):
        """Cast to int32."""
        return self.to(np.int32)

    def bool(self):
        """Cast to bool."""
        return self.to(np.bool_)

    # --- autograd -------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        """Mark a leaf as a variable whose gradient backward accumulates."""
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}")
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot clear requires_grad of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's .grad (or only into `inputs`)."""
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self):
        """The same storage and version counter, outside the graph."""
        return Tensor._make(self._data, version=self._version)

    def detach_(self):
        """Detach this tensor from the graph in place."""
        self._ctx, self.requires_grad = None, False
        return self

    @property
    def retains_grad(self):
        """Whether retain_grad() was called on this non-leaf tensor (False for leaves, as in PyTorch)."""
        kept = self._ctx.retained if self._ctx is not None else None
        return bool(kept) and kept[self._index] is not None and kept[self._index]() is self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: cannot retain the gradient of a tensor that does not require grad")
        if self._ctx is not None:
            self._ctx.retain(self)

    def register_hook(self, hook):
        """Call hook(grad) with this tensor's gradient; a returned value replaces the gradient.
        Returns a handle whose remove() takes the hook off again, as PyTorch's."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._ctx is None:
            self._hooks = (self._hooks or []) + [hook]

            def remove():
                self._hooks = _without(self._hooks, hook) or None
        else:
            self._ctx.add_hook(self._index, hook)
            hooks = self._ctx.hooks[self._index]

            def remove():
                hooks[:] = _without(hooks, hook)
        return HookHandle(remove)

    def clone(self):
        """A copy with its own storage; gradients pass straight through."""
        return _ops.clone(self)

    def contiguous(self):
        """self if C-contiguous, else a C-contiguous copy."""
        return self if self._data.flags.c_contiguous else _ops.clone(self)

    # --- arithmetic and elementwise functions ---------------------------------------------------
    def __add__(self, o): return _ops.add(self, o)
    def __radd__(self, o): return _ops.add(o, self)
    def __sub__(self, o): return _ops.sub(self, o)
    def __rsub__(self, o): return _ops.sub(o, self)
    def __mul__(self, o): return _ops.mul(self, o)
    def __rmul__(self, o): return _ops.mul(o, self)
    def __truediv__(self, o): return _ops.div(self, o)
    def __rtruediv__(self, o): return _ops.div(o, self)
    def __mod__(self, o): return _ops.remainder(self, o)
    def __rmod__(self, o): return _ops.remainder(o, self)
    def __floordiv__(self, o): return _ops.floor_divide(self, o)
    def __rfloordiv__(self, o): return _ops.floor_divide(o, self)
    def __pow__(self, o): return _ops.pow(self, o)
    def __rpow__(self, o): return _ops.pow(o, self)
    def __matmul__(self, o): return _ops.matmul(self, o)
    def __rmatmul__(self, o): return _ops.matmul(o, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __getitem__(self, key): return _ops.getitem(self, key)
    def __eq__(self, o): return False if o is None else _ops.compare(np.equal, self, o)  # t == None, as torch
    def __ne__(self, o): return True if o is None else _ops.compare(np.not_equal, self, o)
    def __lt__(self, o): return _ops.compare(np.less, self, o)
    def __le__(self, o): return _ops.compare(np.less_equal, self, o)
    def __gt__(self, o): return _ops.compare(np.greater, self, o)
    def __ge__(self, o): return _ops.compare(np.greater_equal, self, o)
    def __invert__(self): return _ops.invert(self)
    def __and__(self, o): return _ops.bitwise(np.logical_and, np.bitwise_and, self, o)
    def __or__(self, o): return _ops.bitwise(np.logical_or, np.bitwise_or, self, o)
    def __xor__(self, o): return _ops.bitwise(np.logical_xor, np.bitwise_xor, self, o)
    def __rand__(self, o): return _ops.bitwise(np.logical_and, np.bitwise_and, o, self)
    def __ror__(self, o): return _ops.bitwise(np.logical_or, np.bitwise_or, o, self)
    def __rxor__(self, o): return _ops.bitwise(np.logical_xor, np.bitwise_xor, o, self)

    def add(self, other, alpha=1):
        """self + alpha * other."""
        return _ops.add(self, other if alpha == 1 else _ops.mul(other, alpha))

    def sub(self, other, alpha=1):
        """self - alpha * other."""
        return _ops.sub(self, other if alpha == 1 else _ops.mul(other, alpha))

    def mul(self, other):
        """self * other."""
        return _ops.mul(self, other)

    def div(self, other, rounding_mode=None):
        """self / other; rounding_mode 'trunc' or 'floor' rounds the quotient, as in PyTorch."""
        return _ops.div(self, other, rounding_mode)

    def neg(self):
        """-self."""
        return _ops.neg(self)

    def pow(self, exponent):
        """self ** exponent."""
        return _ops.pow(self, exponent)

    def exp(self):
        """e ** self."""
        return _ops.exp(self)

    def log(self):
        """Natural logarithm."""
        return _ops.log(self)

    def sqrt(self):
        """Square root."""
        return _ops.sqrt(self)

    def abs(self):
        """Absolute value."""
        return _ops.abs(self)

    def sin(self):
        """Sine."""
        return _ops.sin(self)

    def cos(self):
        """Cosine."""
        return _ops.cos(self)

    def tanh(self):
        """Hyperbolic tangent (its gradient reuses the output: 1 - y²)."""
        return _ops.tanh(self)

    def sigmoid(self):
        """1 / (1 + e^-x), stable for large |x| (gradient y (1 - y))."""
        return _ops.sigmoid(self)

    def relu(self):
        """max(x, 0)."""
        return _ops.relu(self)

    def clamp(self, min=None, max=None):
        """Values limited to [min, max]; the gradient passes where min <= x <= max."""
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        """Elementwise maximum (ties share the gradient)."""
        return _ops.maximum(self, other)

    def minimum(self, other):
        """Elementwise minimum (ties share the gradient)."""
        return _ops.minimum(self, other)

    def matmul(self, other):
        """Matrix product with NumPy's broadcasting rules."""
        return _ops.matmul(self, other)

    def mm(self, other):
        """Product of two 2-D tensors."""
        if self.ndim != 2 or _ops.to_tensor(other).ndim != 2:
            raise ShapeError(f"mm: expected 2-D tensors, got shapes {tuple(self.shape)} and {tuple(other.shape)}")
        return _ops.matmul(self, other)

    def bmm(self, other):
        """Batched product of two 3-D tensors."""
        if self.ndim != 3 or _ops.to_tensor(other).ndim != 3:
            raise ShapeError(f"bmm: expected 3-D tensors, got shapes {tuple(self.shape)} and {tuple(other.shape)}")
        return _ops.matmul(self, other)

    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other

    def masked_fill(self, mask, value):
        """value where mask holds, self elsewhere (the gradient is zero where filled); self's dtype."""
        out = _ops.where(mask, value, self)
        return out if out.dtype == self.dtype else out.to(self.dtype)

    # --- reductions -----------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        """Sum over dim (all dims by default)."""
        return _ops.sum(self if dtype is None else self.to(dtype), dim, keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        """Mean over dim (all dims by default)."""
        return _ops.mean(self if dtype is None else self.to(dtype), dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        """Product over dim (all dims by default)."""
        return _ops.prod(self, dim, keepdim)

    def cumsum(self, dim):
        """Running sum along dim."""
        return _ops.cumsum(self, dim)

    def max(self, dim=None, keepdim=False):
        """max() -> 0-d tensor; max(dim) -> named (values, indices); max(other) -> maximum."""
        return _ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """min() -> 0-d tensor; min(dim) -> named (values, indices); min(other) -> minimum."""
        return _ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        """Max over dims (ties share the gradient)."""
        return _ops.amax(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """Index of the max (flat, or along dim)."""
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the min (flat, or along dim)."""
        return _ops.argmin(self, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        """log Σ exp(self) over dim, stable for large values."""
        return _ops.logsumexp(self, dim, keepdim)

    def var(self, dim=None, correction=1, keepdim=False, unbiased=None):
        """Variance (Bessel-corrected by default)."""
        return _ops.var(self, dim, correction, keepdim, unbiased)

    def std(self, dim=None, correction=1, keepdim=False, unbiased=None):
        """Standard deviation (Bessel-corrected by default)."""
        return _ops.std(self, dim, correction, keepdim, unbiased)

    def norm(self, p=2, dim=None, keepdim=False):
        """Vector p-norm over dim (all dims by default)."""
        return _ops.norm(self, p, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """Whether any element is true (over dim)."""
        return _ops.any(self, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        """Whether every element is true (over dim)."""
        return _ops.all(self, dim, keepdim)

    def softmax(self, dim=-1):
        """exp(x) / Σ exp(x) along dim."""
        return _ops.softmax(self, dim)

    def log_softmax(self, dim=-1):
        """x - logsumexp(x) along dim."""
        return _ops.log_softmax(self, dim)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest (or smallest) along dim."""
        return _ops.topk(self, k, dim, largest, sorted)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) sorted along dim (always stable)."""
        return _ops.sort(self, dim, descending)

    def argsort(self, dim=-1, descending=False):
        """Indices that sort along dim."""
        return _ops.sort(self, dim, descending)[1]

    # --- shape ----------------------------------------------------------------------------------
    def reshape(self, *shape):
        """The same elements in a new shape: a view when the strides allow it, else a copy."""
        return _ops.reshape(self, *shape)

    def view(self, *shape):
        """The same storage in a new shape; raises when the strides do not allow a view."""
        return _ops.view(self, *shape)

    def reshape_as(self, other):
        """reshape to other's shape."""
        return _ops.reshape(self, *other.shape)

    def view_as(self, other):
        """view as other's shape."""
        return _ops.view(self, *other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Dims start_dim..end_dim merged into one."""
        return _ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        """Dims reordered."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0, dim1):
        """Two dims swapped."""
        return _ops.transpose(self, dim0, dim1)

    def t(self):
        """Transpose of a tensor of at most 2 dims."""
        if self.ndim > 2:
            raise ShapeError(f"t: expected a tensor of at most 2 dims, got shape {tuple(self.shape)}")
        return self if self.ndim < 2 else _ops.transpose(self, 0, 1)

    def expand(self, *shape):
        """Size-1 dims broadcast to a larger shape (no copy)."""
        return _ops.expand(self, *shape)

    def expand_as(self, other):
        """expand to other's shape."""
        return _ops.expand(self, *other.shape)

    def repeat(self, *sizes):
        """Tile the tensor sizes[i] times along each dim (as torch.Tensor.repeat)."""
        return _ops.repeat(self, *sizes)

    def squeeze(self, dim=None):
        """Size-1 dims removed (all, or the given one)."""
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        """A size-1 dim inserted at dim."""
        return _ops.unsqueeze(self, dim)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along dim, of a size or of given sizes."""
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        """`chunks` nearly equal pieces along dim."""
        return _ops.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        """The slices along dim, without it, as a tuple (for x_t in x.unbind(0): one node, not T)."""
        return _ops.unbind(self, dim)

    def narrow(self, dim, start, length):
        """Positions start..start+length-1 of dim (a view)."""
        return _ops.narrow(self, dim, start, length)

    def index_select(self, dim, index):
        """Entries of dim at the given indices."""
        return _ops.index_select(self, dim, index)

    def gather(self, dim, index):
        """out[i][j] = self[i][index[i][j]] along dim."""
        return _ops.gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        """A copy with src[i][j] added at [i][index[i][j]] along dim (the adjoint of gather)."""
        return _ops.scatter_add(self, dim, index, src)

    def masked_select(self, mask):
        """The elements where the (broadcast) bool mask is true, as a 1-D tensor."""
        return _ops.masked_select(self, mask)

    def nonzero(self, as_tuple=False):
        """Indices of the non-zero elements: (n, ndim) int64, or one (n,) tensor a dim with as_tuple."""
        if self.ndim == 0:  # as PyTorch: a 0-d tensor counts as one element with no coordinates
            n = int(bool(self._data))
            return (Tensor._make(np.zeros(n, np.int64)),) if as_tuple else Tensor._make(np.zeros((n, 0), np.int64))
        idx = np.nonzero(self._data)
        if as_tuple:
            return tuple(Tensor._make(i.astype(np.int64)) for i in idx)
        return Tensor._make(np.stack(idx, axis=1).astype(np.int64))

    # --- new tensors like this one --------------------------------------------------------------
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A new tensor from data, with this tensor's dtype by default."""
        check_device(device)
        return Tensor(data, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        """A new tensor filled with fill_value, with this tensor's dtype by default."""
        check_device(device)
        arr = np.full(_size_args((size,)), fill_value, dtype=self.dtype if dtype is None else as_dtype(dtype))
        return Tensor._make(arr).requires_grad_(requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """A new tensor of zeros, with this tensor's dtype by default."""
        return self.new_full(_size_args(size), 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        """A new tensor of ones, with this tensor's dtype by default."""
        return self.new_full(_size_args(size), 1, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """A new tensor (of zeros), with this tensor's dtype by default."""
        return self.new_full(_size_args(size), 0, dtype, device, requires_grad)

    # --- in-place operations (recorded; see the module docstring) -------------------------------
    def _write(self, name, compute):
        """Replace this tensor's values by compute(self) in place, recording it when in a graph.

        compute runs on a copy of the old values (the graph may keep them); the tensor is then
        re-pointed at the node that made the new values, and its version counter moves on.
        """
        if not _autograd.is_grad_enabled():
            return self._write_values(name, compute(self)._data)
        base = self if self._base is None else self._base
        if base.requires_grad and base._ctx is None:
            what = "a leaf tensor" if base is self else "a view of a leaf tensor"
            raise RuntimeError(f"{name}: {what} that requires grad is being used in an in-place "
                               "operation (wrap it in `with no_grad():` or use an out-of-place op)")
        if base is not self and self._view_at != self._version[0]:
            _views.refresh(self)
        out = compute(self._snapshot()) if self.requires_grad else compute(self)
        if out.requires_grad and not self.requires_grad:
            out = compute(self._snapshot())  # the first result's node may have saved self's array
        self._write_values(name, out._data)
        if out.requires_grad:
            self._rebind(out) if base is self else _views.write_through(self, out)
        return self

    def _snapshot(self):
        """A copy of the values, standing where this tensor stands in the graph."""
        return Tensor._make(self._data.copy(), self.requires_grad, self._ctx, self._index)

    def _rebind(self, out):
        """Make this tensor be out's output of out's node (after an in-place operation)."""
        self._ctx, self._index, self.requires_grad = out._ctx, out._index, True
        out._ctx.rebind_output(out._index, self._data, self._version)

    def _write_values(self, name, values):
        if not self._data.flags.writeable:
            why = ("more than one element of it refers to a single memory location (an expanded tensor)"
                   if 0 in self._data.strides else "its memory is read-only")
            raise RuntimeError(f"{name}: cannot write in place into this tensor: {why}; clone() it first")
        if np.shape(values) != self._data.shape:
            try:
                values = np.broadcast_to(values, self._data.shape)
            except ValueError:
                raise ShapeError(f"{name}: result of shape {np.shape(values)} does not fit in place into a "
                                 f"tensor of shape {tuple(self.shape)}") from None
        if (np.result_type(values) != self.dtype and name not in _CONVERTING_WRITES
                and not np.can_cast(np.result_type(values), self.dtype, "same_kind")):
            raise TypeError(f"{name}: result of dtype {np.result_type(values)} cannot be written in place into "
                            f"a tensor of dtype {self.dtype}")
        np.copyto(self._data, values, casting="unsafe")
        self._version[0] += 1
        return self

    def add_(self, other, alpha=1):
        """In place: self += alpha * other."""
        return self._write("add_", lambda x: x.add(other, alpha))

    def sub_(self, other, alpha=1):
        """In place: self -= alpha * other."""
        return self._write("sub_", lambda x: x.sub(other, alpha))

    def mul_(self, other):
        """In place: self *= other."""
        return self._write("mul_", lambda x: x * other)

    def div_(self, other):
        """In place: self /= other."""
        return self._write("div_", lambda x: x / other)

    def pow_(self, exponent):
        """In place: self **= exponent."""
        return self._write("pow_", lambda x: x ** exponent)

    def clamp_(self, min=None, max=None):
        """In place: clamp."""
        return self._write("clamp_", lambda x: x.clamp(min, max))

    def masked_fill_(self, mask, value):
        """In place: value where mask holds."""
        return self._write("masked_fill_", lambda x: x.masked_fill(mask, value))

    def copy_(self, src):
        """Copy src's values (broadcast) into this tensor; gradients flow to src."""
        src = src if isinstance(src, Tensor) else Tensor(src, dtype=self.dtype)
        try:
            np.broadcast_to(src._data, self.shape)
        except ValueError:
            raise ShapeError(f"copy_: source of shape {tuple(src.shape)} cannot be copied into a tensor of shape "
                             f"{tuple(self.shape)}") from None
        return self._write("copy_", lambda x: _ops.where(_ALL, src, x))

    def zero_(self):
        """In place: every element 0."""
        return self.fill_(0)

    def fill_(self, value):
        """Every element set to value (a number or a 0-d tensor, whose gradient is the sum)."""
        return self._write("fill_", lambda x: _ops.where(_ALL, value, x))

    def uniform_(self, a=0.0, b=1.0):
        """Fill with samples of U(a, b) from the global generator (not recorded)."""
        return self._fill_random("uniform_", lambda rng, s: rng.uniform(a, b, s))

    def normal_(self, mean=0.0, std=1.0):
        """Fill with samples of N(mean, std²) from the global generator (not recorded)."""
        return self._fill_random("normal_", lambda rng, s: rng.normal(mean, std, s))

    def _fill_random(self, name, draw):
        if self.requires_grad and _autograd.is_grad_enabled():
            raise RuntimeError(f"{name}: in-place sampling into a tensor that requires grad needs no_grad()")
        self._write_values(name, draw(generator(), self._data.shape))
        return self

    def unsqueeze_(self, dim):
        """In place: a size-1 dim inserted."""
        return self._reshape_inplace(lambda x: x.unsqueeze(dim))

    def squeeze_(self, dim=None):
        """In place: size-1 dims removed."""
        return self._reshape_inplace(lambda x: x.squeeze(dim))

    def _reshape_inplace(self, reshape):
        if self._base is not None:  # a view stays one, of the new shape
            self._view = self._view + ((_ops.shape.Reshape, (reshape(Tensor._make(self._data)).shape,), None),)
        if self._ctx is None:
            self._data = reshape(Tensor._make(self._data))._data
        else:
            out = reshape(Tensor._make(self._data, True, self._ctx, self._index))
            self._data = out._data
            self._rebind(out)
        return self

    def __setitem__(self, key, value):
        """x[key] = value: recorded (as an IndexPut node) when either side is in a graph; a key mixing
        ints with index arrays writes through the view the ints select, in PyTorch's order."""
        key = _ops.index_key(key)
        split = _ops.shape.ints_first(key)
        if split is not None:
            self[split[0]][split[1]] = value
            return
        if _autograd.is_grad_enabled() and (self.requires_grad or getattr(value, "requires_grad", False)):
            self._write("__setitem__", lambda x: _ops.index_put(x, key, value))
            return
        try:
            self._data[key] = value._data if isinstance(value, Tensor) else value
        except IndexError as e:
            raise IndexError(f"index assignment: {e} (tensor of shape {tuple(self.shape)})") from None
        except ValueError as e:
            raise ShapeError(f"index assignment: {e} (tensor of shape {tuple(self.shape)})") from None
        self._version[0] += 1

    def __iadd__(self, o): return self._write("+=", lambda x: x + o)
    def __isub__(self, o): return self._write("-=", lambda x: x - o)
    def __imul__(self, o): return self._write("*=", lambda x: x * o)
    def __itruediv__(self, o): return self._write("/=", lambda x: x / o)


_ALL = np.ones((), dtype=bool)  # a where() condition that picks its first value everywhere
_CONVERTING_WRITES = ("copy_", "fill_", "__setitem__")  # these convert (floats into ints truncate), as PyTorch's

from . import autograd as _autograd  # noqa: E402  (autograd and ops build on Tensor)
from . import ops as _ops  # noqa: E402
from . import views as _views  # noqa: E402
