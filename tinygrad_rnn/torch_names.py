"""The rest of PyTorch's tensor methods and torch.* functions, as thin names for the ops, so that
tensor.py keeps the engine's own. Each METHODS entry becomes Tensor.<name>(self, ...); each
FUNCTION_METHODS name becomes tg.<name>(input, ...), the method called on input (torch_functions
adds einsum and a few functions that are not methods); each INPLACE name also gets
Tensor.<name>_, which computes the op and writes it back through the engine's recorded in-place
mechanism (Tensor._write)."""
import numpy as np

from . import ops
from .ops import einsum as _einsum, linalg, rearrange, reduce, special
from .ops.elementwise import compare, to_tensor, where
from .tensor import Tensor, ShapeError


def lerp(input, end, weight):
    """input + weight (end - input)."""
    return input + (end - input) * weight


def addcmul(input, tensor1, tensor2, value=1):
    """input + value tensor1 tensor2."""
    return input + tensor1 * tensor2 * value


def addcdiv(input, tensor1, tensor2, value=1):
    """input + value tensor1 / tensor2."""
    return input + tensor1 / tensor2 * value


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol |other|, elementwise (a bool tensor)."""
    a, b = ops.elementwise._pair(input, other, "isclose")
    return Tensor._make(np.isclose(a._data, b._data, rtol, atol, equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether isclose holds everywhere (a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other):
    """Whether both have the same shape and values (a Python bool)."""
    a, b = to_tensor(input), to_tensor(other)
    return a.shape == b.shape and bool(np.array_equal(a._data, b._data))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by nan, posinf and neginf (by default the dtype's largest and
    smallest finite values); the replaced elements get no gradient."""
    x = to_tensor(input)
    if x.dtype.kind != "f":
        return x.clone()
    info = np.finfo(x.dtype)
    a = x._data
    x = where(np.isnan(a), nan, x)
    x = where(np.isposinf(a), info.max if posinf is None else posinf, x)
    return where(np.isneginf(a), info.min if neginf is None else neginf, x)


def sum_to_size(input, *size):
    """input summed down to size (which input's shape broadcasts to)."""
    size = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
    try:
        if np.broadcast_shapes(input.shape, size) != input.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"sum_to_size: size {size} does not broadcast to the tensor's shape {input.shape}") from None
    lead = input.ndim - len(size)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(size) if s == 1 and input.shape[lead + i] != 1)
    return input.sum(dim=dims, keepdim=True).reshape(size) if dims else input


def _square(x):
    """x·x; bools square as int64, as in PyTorch."""
    x = x.long() if x.dtype == np.bool_ else x
    return x * x


def _predicate(fn):
    def op(input):
        return Tensor._make(fn(to_tensor(input)._data))
    op.__name__ = fn.__name__
    return op


def _logical(ufunc):
    def op(input, other):
        return compare(ufunc, input, other)
    op.__name__ = ufunc.__name__
    return op


SHARED = {  # both Tensor methods and torch.* functions
    **{name: getattr(special, name) for name in (*special.SMOOTH, "floor", "ceil", "trunc", "sign", "round", "frac")},
    **{name: getattr(rearrange, name) for name in (
        "flip", "roll", "tril", "triu", "diagonal", "diag", "trace", "movedim", "unflatten", "tile",
        "repeat_interleave", "select", "take_along_dim", "tensor_split", "scatter", "index_add", "index_copy",
        "index_fill")},
    **{name: getattr(linalg, name) for name in ("outer", "dot", "mv", "addmm", "addmv", "baddbmm")},
    **{name: getattr(reduce, name) for name in ("amin", "nansum", "nanmean", "count_nonzero")},
    "reciprocal": lambda input: 1.0 / ops.elementwise.floated(input, "reciprocal"),
    "rsqrt": lambda input: ops.elementwise.floated(input, "rsqrt") ** -0.5,
    "square": lambda input: _square(to_tensor(input)),
    "clamp_min": lambda input, min: ops.clamp(input, min=min),
    "clamp_max": lambda input, max: ops.clamp(input, max=max),
    "isnan": _predicate(np.isnan), "isinf": _predicate(np.isinf), "isfinite": _predicate(np.isfinite),
    "isposinf": _predicate(np.isposinf), "isneginf": _predicate(np.isneginf), "signbit": _predicate(np.signbit),
    "logical_and": _logical(np.logical_and), "logical_or": _logical(np.logical_or),
    "logical_xor": _logical(np.logical_xor),
    "lerp": lerp, "addcmul": addcmul, "addcdiv": addcdiv, "isclose": isclose, "allclose": allclose,
    "equal": equal, "nan_to_num": nan_to_num, "index_put": ops.index_put,
    "remainder": ops.remainder, "floor_divide": ops.floor_divide,
    "sgn": special.sign, "fix": special.trunc, "absolute": ops.abs, "negative": ops.neg,
    "arcsin": special.asin, "arccos": special.acos, "arctan": special.atan, "arcsinh": special.asinh,
    "arccosh": special.acosh, "arctanh": special.atanh, "moveaxis": rearrange.movedim,
}

METHODS = {
    **SHARED,
    "multiply": Tensor.mul, "subtract": Tensor.sub, "divide": Tensor.div, "true_divide": Tensor.div,
    "greater": Tensor.gt, "greater_equal": Tensor.ge, "less": Tensor.lt, "less_equal": Tensor.le,
    "not_equal": Tensor.ne, "swapaxes": Tensor.transpose, "swapdims": Tensor.transpose,
    "broadcast_to": Tensor.expand, "ndimension": Tensor.dim, "sum_to_size": sum_to_size,
    "ravel": lambda self: self.reshape(-1),
    "where": lambda self, condition, other: where(condition, self, other),
    "logical_not": ops.logical_not,
    "byte": lambda self: self.to(np.uint8), "char": lambda self: self.to(np.int8),
    "short": lambda self: self.to(np.int16),
    "is_signed": lambda self: self.dtype.kind in "if",
    "is_complex": lambda self: False,
    "is_nonzero": lambda self: bool(self),
    "get_device": lambda self: -1,
    "stride": lambda self, dim=None: (tuple(s // self._data.itemsize for s in self._data.strides) if dim is None
                                      else self._data.strides[dim] // self._data.itemsize),
    "storage_offset": lambda self: 0 if self._base is None else (
        self._data.__array_interface__["data"][0] - self._base._data.__array_interface__["data"][0])
    // self._data.itemsize,
    "data_ptr": lambda self: self._data.__array_interface__["data"][0],
    "nbytes": property(lambda self: self._data.nbytes),
    "itemsize": property(lambda self: self._data.itemsize),
}

INPLACE = ("abs", "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "reciprocal", "rsqrt",
           "square", "clamp_min", "clamp_max", "floor", "ceil", "trunc", "round", "sign", "frac", "lerp",
           "addcmul", "addcdiv", "scatter", "scatter_add", "index_add", "index_copy", "index_fill", "index_put",
           "tril", "triu", "remainder", "floor_divide", "nan_to_num", *special.SMOOTH)

FUNCTION_METHODS = (  # torch.<name>(input, ...) is input.<name>(...)
    *SHARED, "abs", "add", "sub", "mul", "div", "pow", "neg", "flatten", "reshape", "transpose", "permute",
    "squeeze", "unsqueeze", "argmax", "argmin", "amax", "argsort", "mm", "bmm", "t", "masked_fill",
    "masked_select", "nonzero", "scatter_add", "eq", "ne", "lt", "le", "gt", "ge", "numel", "logical_not", "clip",
    "swapaxes", "swapdims", "broadcast_to", "ravel", "multiply", "subtract", "divide", "true_divide", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "is_floating_point", "is_nonzero")


def _in_place(name):
    def method(self, *args, **kwargs):
        return self._write(name + "_", lambda x: getattr(x, name)(*args, **kwargs))
    method.__name__ = name + "_"
    method.__doc__ = f"In place: {name}."
    return method


def _function(fn, name):
    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):  # a number beside a tensor takes its dtype, as in PyTorch
            input = to_tensor(input, next((a for a in args if isinstance(a, Tensor)), None))
        return fn(input, *args, **kwargs)
    function.__name__, function.__doc__ = name, getattr(fn, "__doc__", None)
    return function


for _name, _fn in METHODS.items():
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _fn)
for _name in INPLACE:
    if not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _in_place(_name))
torch_functions = {
    **{name: _function(getattr(Tensor, name), name) for name in FUNCTION_METHODS},
    "einsum": _einsum.einsum, "concat": ops.cat, "concatenate": ops.cat,
    "var_mean": reduce.var_mean, "std_mean": reduce.std_mean,
    "is_tensor": lambda obj: isinstance(obj, Tensor),
}
