"""Elementwise ops: arithmetic, powers, exp/log, activations, clamp, where, maximum/minimum, cast.

Binary ops broadcast like NumPy; their backward returns output-shaped gradients and the engine sums
them down to each input's shape. Python numbers take the tensor's dtype (as in PyTorch).
"""
import contextlib

import numpy as np

from ..autograd import Function
from ..kernels import pointwise
from ..tensor import Tensor, ShapeError, get_default_dtype


def to_tensor(x, like=None):
    """A Tensor for x: Tensors pass through, Python numbers take like's float dtype, arrays keep theirs."""
    if isinstance(x, Tensor):
        return x
    if type(x) is float and like is not None and like._data.dtype.kind == "f":
        return Tensor._make(np.array(x, like._data.dtype))
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        if like is not None and like.dtype.kind == "f":
            return Tensor._make(np.asarray(x, dtype=like.dtype))
        if isinstance(x, float) or (isinstance(x, np.number) and np.issubdtype(type(x), np.floating)):
            return Tensor._make(np.asarray(x, dtype=get_default_dtype()))
        return Tensor._make(np.asarray(x))
    raise TypeError(f"expected a Tensor, a NumPy array or a number, got {type(x).__name__}")


def _arith_pair(a, b, name):
    """_pair for arithmetic, with the common cases first: two tensors of one shape and dtype, or a
    Python number beside a float tensor (it stays a number: NumPy keeps the array's dtype)."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._data.shape == b._data.shape and a._data.dtype == b._data.dtype:
                return a, b
        elif type(b) in _NUMBERS and a._data.dtype.kind == "f":
            return a, b
    elif type(a) in _NUMBERS and isinstance(b, Tensor) and b._data.dtype.kind == "f":
        return a, b
    return _pair(a, b, name)


def _pair(a, b, name):
    a = to_tensor(a, b if isinstance(b, Tensor) else None)
    b = to_tensor(b, a)
    if a._data.shape != b._data.shape and a._data.ndim and b._data.ndim:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    # an integer or bool operand takes the float operand's dtype, as in PyTorch (NumPy would make float64)
    if a._data.dtype.kind in "biu" and b._data.dtype.kind == "f":
        a = cast(a, b._data.dtype)
    elif b._data.dtype.kind in "biu" and a._data.dtype.kind == "f":
        b = cast(b, a._data.dtype)
    elif a._data.dtype != b._data.dtype and _CATEGORY[a._data.dtype.kind] == _CATEGORY[b._data.dtype.kind]:
        # PyTorch: a 0-d tensor does not widen a tensor with dims of its own category (f32 * f64 0-d is f32)
        if not a._data.ndim and b._data.ndim:
            a = cast(a, b._data.dtype)
        elif not b._data.ndim and a._data.ndim:
            b = cast(b, a._data.dtype)
    return a, b


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


_NUMBERS = (int, float)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)  # a - target: no pass for the target


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # each factor is saved only for the other's gradient, as PyTorch saves them: an in-place change
        # to a factor whose partner needs no gradient is then no error (b = a * 1; c = b * w; b.add_(1))
        need_a, need_b = getattr(ctx, "needs_input_grad", None) or (True, True)  # unknown: keep both
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g / b if need_a else None), (-g * a / (b * b) if need_b else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class PowScalar(Function):
    """x ** p for a constant p: d/dx = p x^(p-1)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return np.power(x, x.dtype.type(p))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.p == 0:
            return g * 0.0, None
        if ctx.p == 1:
            return g, None
        if ctx.p == 2:  # squared errors: two passes over x, not three
            return g * (x * 2.0), None
        return g * (x ** (ctx.p - 1) * ctx.p), None


class Pow(Function):
    """a ** b for tensors: d/da = b a^(b-1) (0 where b = 0), d/db = a^b log a (0 where a = 0 and b >= 0)."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = where(b._data == 0, 0.0, g * b * a ** (b - 1)) if need_a else None  # 0 at 0 ** 0, not 0 * inf
        gb = None
        if need_b:
            safe = (a._data == 0) & (b._data >= 0)
            gb = where(safe, 0.0, g * out * where(safe, 1.0, a).log())
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2.0 * y)


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * x.sin()


class Clone(Function):
    """A C-contiguous copy; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x):
        return np.array(x, order="C")

    @staticmethod
    def backward(ctx, g):
        return g


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.sign = np.sign(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.sign


class _ActivationGrad(Function):
    """g * act'(y) from the saved output y, by a fused kernel; its own backward is composed."""

    kernel = None

    @classmethod
    def forward(cls, ctx, g, y):
        ctx.save_for_backward(g, y)
        if g.dtype != y.dtype or not g.flags.c_contiguous:
            g = np.ascontiguousarray(g, dtype=y.dtype)
        if not y.flags.c_contiguous:
            y = np.ascontiguousarray(y)
        return cls.kernel(g.ravel(), y.ravel()).reshape(y.shape)


class TanhGrad(_ActivationGrad):
    """g (1 - y²); d/dg = 1 - y², d/dy = -2 g y."""

    kernel = staticmethod(pointwise.tanh_backward)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        return gg * (1.0 - y * y), gg * g * y * -2.0


class SigmoidGrad(_ActivationGrad):
    """g y (1 - y); d/dg = y (1 - y), d/dy = g (1 - 2y)."""

    kernel = staticmethod(pointwise.sigmoid_backward)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        return gg * y * (1.0 - y), gg * g * (1.0 - 2.0 * y)


class ReluGrad(_ActivationGrad):
    """g [y > 0]; piecewise linear, so d/dy = 0."""

    kernel = staticmethod(pointwise.relu_backward)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        return gg * (y._data > 0), None


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return TanhGrad.apply(g, y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = pointwise.sigmoid(np.ascontiguousarray(x).reshape(-1)).reshape(x.shape)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return SigmoidGrad.apply(g, y)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, x.dtype.type(0))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ReluGrad.apply(g, y)


class Clamp(Function):
    """Gradient passes where min <= x <= max, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        ctx.mask = mask
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad[1:]
        zero = Tensor._make(np.zeros((), dtype=g.dtype))
        return (None, where(ctx.cond, g, zero) if need_a else None, where(ctx.cond, zero, g) if need_b else None)


class _Extremum(Function):
    """maximum/minimum; ties share the gradient equally and a NaN on either side wins, as in PyTorch."""

    pick = value = None

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.wa = np.where(a == b, 0.5, cls.pick(a, b)).astype(np.result_type(a, b))
        return cls.value(a, b)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.wa, g * (1.0 - ctx.wa)


class Maximum(_Extremum):
    pick, value = staticmethod(np.greater), staticmethod(np.maximum)


class Minimum(_Extremum):
    pick, value = staticmethod(np.less), staticmethod(np.minimum)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.dtype), None) if ctx.dtype.kind == "f" else (None, None)


def add(a, b):
    return Add.apply(*_arith_pair(a, b, "add"))


def sub(a, b):
    a, b = _arith_pair(a, b, "sub")
    if np.bool_ in (getattr(a, "dtype", None), getattr(b, "dtype", None)):
        raise TypeError("sub: subtraction, the `-` operator, with a bool tensor is not supported; use `^` or "
                        "logical_xor() for bools, or convert to a number type first")
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(*_arith_pair(a, b, "mul"))


def div(a, b, rounding_mode=None):
    """a / b; rounding_mode 'floor' or 'trunc' rounds it in a's and b's dtype, with no gradient (a
    rounded quotient's derivative is 0 almost everywhere)."""
    if rounding_mode not in (None, "trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if rounding_mode is None:  # true division is in floats, before any integer conversion (uint8 / -3)
        a, b = to_tensor(a), to_tensor(b)
        if a._data.dtype.kind != "f" and b._data.dtype.kind != "f":
            a, b = cast(a, get_default_dtype()), cast(b, get_default_dtype())
    a, b = _pair(a, b, "div")
    if rounding_mode is not None:
        _refuse_integer_zero(b, "div")
    if rounding_mode == "floor":
        return Tensor._make(np.asarray(np.floor_divide(a._data, b._data)))
    if rounding_mode == "trunc":
        dtype = np.result_type(a._data, b._data)
        return Tensor._make(np.asarray(np.trunc(np.true_divide(a._data, b._data))).astype(dtype))
    return Div.apply(a, b)


class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """An integer tensor divided by 0: PyTorch raises it as a RuntimeError, Python as a ZeroDivisionError."""


def _refuse_integer_zero(b, name):
    if b._data.dtype.kind in "biu" and not b._data.all():
        raise IntegerDivisionByZero(f"{name}: integer division by zero")


class Remainder(Function):
    """a - b floor(a / b), with the sign of b, as torch.remainder (and Python's %); d/da = 1,
    d/db = -floor(a / b), a constant (a step function) for higher derivatives."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.mod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g, -g * Tensor._make(np.floor_divide(a._data, b._data))


class FloorDivide(Function):
    """floor(a / b), as torch.floor_divide (//); like PyTorch's it has no derivative."""

    @staticmethod
    def forward(ctx, a, b):
        return np.floor_divide(a, b)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("floor_divide (//) has no derivative, as in PyTorch; detach its operands")


def remainder(a, b):
    a, b = _pair(a, b, "remainder")
    _refuse_integer_zero(b, "remainder")
    return Remainder.apply(a, b)


def floor_divide(a, b):
    a, b = _pair(a, b, "floor_divide")
    _refuse_integer_zero(b, "floor_divide")
    return FloorDivide.apply(a, b)


def neg(x):
    x = to_tensor(x)
    if x._data.dtype == np.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; use `~` or "
                        "logical_not() instead")
    return Neg.apply(x)


def pow(a, b):
    if isinstance(a, Tensor) and isinstance(b, (int, float)):
        return PowScalar.apply(floated(a, "pow") if isinstance(b, float) else a, b)  # int ** 2.5 is a float
    return Pow.apply(*_pair(a, b, "pow"))


def floated(x, name):
    """x as a floating-point Tensor: integers and bools take the default dtype, complex is refused."""
    x = to_tensor(x)
    if x._data.dtype.kind == "c":
        raise TypeError(f"{name}: complex tensors are not supported, got {x.dtype}")
    return x if x._data.dtype.kind == "f" else cast(x, get_default_dtype())


def _unary(fn):
    def op(x):
        return fn.apply(floated(x, op.__name__))
    op.__name__ = fn.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__}."
    return op


exp, log, sqrt, tanh, sigmoid, sin, cos = (_unary(f) for f in (Exp, Log, Sqrt, Tanh, Sigmoid, Sin, Cos))


def clone(x):
    return Clone.apply(to_tensor(x))


def abs(x):
    return Abs.apply(to_tensor(x))


def relu(x):
    return Relu.apply(to_tensor(x))


def clamp(x, min=None, max=None):
    """x limited to [min, max]; tensor bounds get the gradient where they bind, as in PyTorch."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    x = to_tensor(x)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x if min is None else where(x < min, min, x)
        return out if max is None else where(out > max, max, out)
    if x._data.dtype.kind != "f" and (isinstance(min, float) or isinstance(max, float)):
        x = floated(x, "clamp")  # an integer tensor clamped to float bounds is a float, as in PyTorch
    return Clamp.apply(x, min, max)


def where(condition, a, b):
    """Elementwise choice: a where condition holds, else b (condition is never differentiated)."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    a, b = _pair(a, b, "where")
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"where: condition {cond.shape} and values {a.shape}, {b.shape} cannot be "
                         "broadcast together") from None
    return Where.apply(cond, a, b)


def maximum(a, b):
    return Maximum.apply(*_pair(a, b, "maximum"))


def minimum(a, b):
    return Minimum.apply(*_pair(a, b, "minimum"))


def cast(x, dtype):
    dtype = np.dtype(dtype)
    out = Cast.apply(x, dtype) if dtype.kind == "f" else Tensor._make(x._data.astype(dtype))  # ints carry no grad
    entry = None if _masks is None else _masks.get(id(x._data))
    if entry is not None:  # a recorded mask used as a number, (h > 0) * a: the same mask to the compiler
        _masks[id(out._data)] = (entry[0], entry[1], out._data)
    return out


_masks = None  # while the compiler traces a step: {id(mask array): (ufunc name, operands, mask)}


@contextlib.contextmanager
def recording_masks():
    """Record what each comparison and logical op computes from, for the cell compiler: the engine
    does not differentiate masks, so its graph alone cannot tell a step's ``h > 0`` from a constant."""
    global _masks
    previous, _masks = _masks, {}
    try:
        yield _masks
    finally:
        _masks = previous


def _mask(data, name, *operands):
    if _masks is not None:
        _masks[id(data)] = (name, operands, data)  # holding data keeps its id unique while recording
    return Tensor._make(data)


def compare(ufunc, a, b):
    """Comparison and logical operators: bool tensors, never differentiated."""
    a, b = _pair(a, b, ufunc.__name__)
    return _mask(np.asarray(ufunc(a._data, b._data)), ufunc.__name__, a, b)


def bitwise(logical, bits, a, b):
    """&, |, ^: logical on bools (a mask, as comparisons give), bitwise on integers, as in PyTorch."""
    a, b = _pair(a, b, bits.__name__)
    if a._data.dtype == np.bool_ and b._data.dtype == np.bool_:
        return _mask(np.asarray(logical(a._data, b._data)), logical.__name__, a, b)
    if a._data.dtype.kind not in "iub" or b._data.dtype.kind not in "iub":
        raise TypeError(f"{bits.__name__}: needs integer or bool tensors, got {a.dtype} and {b.dtype}")
    return Tensor._make(np.asarray(bits(a._data, b._data)))


def invert(x):
    """~x: logical on bools (a mask), bitwise on integers, as PyTorch's."""
    x = to_tensor(x)
    if x._data.dtype == np.bool_:
        return _mask(np.logical_not(x._data), "logical_not", x)
    if x._data.dtype.kind not in "iu":
        raise TypeError(f"~ (bitwise not): needs an integer or bool tensor, got {x.dtype}")
    return Tensor._make(np.invert(x._data))


def logical_not(x):
    """True where x is 0 (or False): a bool tensor for any dtype."""
    x = to_tensor(x)
    return _mask(np.logical_not(x._data), "logical_not", x)
