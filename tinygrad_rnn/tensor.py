"""Tensor: a NumPy array with a gradient slot and a link to the graph node that produced it."""
import weakref

import numpy as np

float32, float64, int64, int32, bool_ = np.float32, np.float64, np.int64, np.int32, np.bool_
_default_dtype = np.dtype(np.float32)


class ShapeError(ValueError, RuntimeError):
    """A shape mismatch. A ValueError, and a RuntimeError as in PyTorch."""


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Set the floating dtype of new tensors made from Python numbers (float32 unless changed)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dt}")
    _default_dtype = dt


def as_array(data, dtype=None):
    """NumPy array from data: Python floats take the default dtype, NumPy arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    arr = np.array(data)
    if arr.dtype == np.float64 and not _is_numpy_float64(data):
        arr = arr.astype(_default_dtype)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    return arr


def _is_numpy_float64(data):
    return isinstance(data, (np.ndarray, np.float64)) and data.dtype == np.float64


class Tensor:
    """An n-dimensional array that records the operations on it, for reverse-mode differentiation.

    Leaves (made by the user) keep accumulated gradients in .grad; non-leaves point at the graph
    node (ctx) that made them and which output of it they are (index).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_index", "_hooks", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = as_array(data, dtype)
        self.grad = None
        self._ctx = None
        self._index = 0
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad=False, ctx=None, index=0):
        t = object.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._index = index
        t._hooks = None
        return t

    # --- properties -----------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    is_leaf = property(lambda self: self._ctx is None)
    grad_fn = property(lambda self: self._ctx)
    T = property(lambda self: self.permute(*reversed(range(self.ndim))))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extra = "" if self.dtype in (_default_dtype, np.int64, np.bool_) else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.fn.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype} {self.shape}")
        return int(self.data)

    # --- conversion -----------------------------------------------------------------------------
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def to(self, dtype):
        return self if self.dtype == np.dtype(dtype) else _ops.cast(self, np.dtype(dtype))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    # --- autograd -------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}")
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot clear requires_grad of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        _autograd.backward(self, gradient, retain_graph, create_graph)

    def detach(self):
        return Tensor._make(self.data)

    def detach_(self):
        self._ctx, self.requires_grad = None, False
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves always keep theirs)."""
        if self._ctx is None:
            return
        ctx = self._ctx
        if ctx.retained is None:
            ctx.retained = [None] * len(ctx.outputs)
        ctx.retained[self._index] = weakref.ref(self)

    def register_hook(self, hook):
        """Call hook(grad) with this tensor's gradient; a returned value replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._ctx is None:
            self._hooks = (self._hooks or []) + [hook]
        else:
            ctx = self._ctx
            if ctx.hooks is None:
                ctx.hooks = [[] for _ in ctx.outputs]
            ctx.hooks[self._index].append(hook)

    # --- in-place, no-grad updates (initialisation, optimizers) ---------------------------------
    def _check_inplace(self, name):
        """In-place writes to a tensor that requires grad are for no_grad() only (init, optimizers):
        the graph may hold its data for backward, and nothing here tracks versions."""
        if self.requires_grad and _autograd.is_grad_enabled():
            raise RuntimeError(f"{name}: in-place operation on a tensor that requires grad is only "
                               "allowed under no_grad()")

    def zero_(self):
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, src):
        self._check_inplace("copy_")
        src = src.data if isinstance(src, Tensor) else np.asarray(src)
        try:
            np.broadcast_to(src, self.shape)
        except ValueError:
            raise ShapeError(f"copy_: source of shape {src.shape} cannot be copied into a tensor of shape "
                             f"{self.shape}") from None
        self.data[...] = src
        return self

    def __setitem__(self, key, value):
        if self.requires_grad and _autograd.is_grad_enabled():
            raise RuntimeError("__setitem__: in-place assignment to a tensor that requires grad is only "
                               "allowed under no_grad()")
        self.data[_ops.index_key(key)] = value.data if isinstance(value, Tensor) else value

    def _inplace(self, other, ufunc):
        """x += y and friends: update data in place (parameter updates under no_grad, as in PyTorch)."""
        self._check_inplace(f"in-place {ufunc.__name__}")
        ufunc(self.data, other.data if isinstance(other, Tensor) else other, out=self.data, casting="same_kind")
        return self

    def __iadd__(self, o): return self._inplace(o, np.add)
    def __isub__(self, o): return self._inplace(o, np.subtract)
    def __imul__(self, o): return self._inplace(o, np.multiply)
    def __itruediv__(self, o): return self._inplace(o, np.true_divide)

    # --- operators ------------------------------------------------------------------------------
    def __add__(self, o): return _ops.add(self, o)
    def __radd__(self, o): return _ops.add(o, self)
    def __sub__(self, o): return _ops.sub(self, o)
    def __rsub__(self, o): return _ops.sub(o, self)
    def __mul__(self, o): return _ops.mul(self, o)
    def __rmul__(self, o): return _ops.mul(o, self)
    def __truediv__(self, o): return _ops.div(self, o)
    def __rtruediv__(self, o): return _ops.div(o, self)
    def __pow__(self, o): return _ops.pow(self, o)
    def __rpow__(self, o): return _ops.pow(o, self)
    def __matmul__(self, o): return _ops.matmul(self, o)
    def __rmatmul__(self, o): return _ops.matmul(o, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __getitem__(self, key): return _ops.getitem(self, key)
    def __eq__(self, o): return _ops.compare(np.equal, self, o)
    def __ne__(self, o): return _ops.compare(np.not_equal, self, o)
    def __lt__(self, o): return _ops.compare(np.less, self, o)
    def __le__(self, o): return _ops.compare(np.less_equal, self, o)
    def __gt__(self, o): return _ops.compare(np.greater, self, o)
    def __ge__(self, o): return _ops.compare(np.greater_equal, self, o)
    def __invert__(self): return Tensor._make(~self.data)


from . import autograd as _autograd  # noqa: E402  (autograd and ops build on Tensor)
from . import ops as _ops  # noqa: E402
