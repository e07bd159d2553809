"""Forward-mode tangents over a recorded graph: J v in one pass, on NumPy arrays, no new graph.

The engine records, for every node, its Function class and the arguments given to apply; that is
enough to push a tangent through the common ops. Linear ops (add, sub, neg, reshape, permute, expand,
indexing, cat, split, stack, unbind, cast, sum) map tangents by their own forward; bilinear ones (mul, matmul) by
the product rule, and linear (x Wᵀ + b) by the product rule plus the bias's tangent; tanh, sigmoid, exp, log, sqrt, relu, div and powers by their derivative at the
recorded input values. A graph holding any other op (a fused recurrent kernel, a softmax) is
`Unsupported`, and the caller falls back to the double-backward trick.
"""
import types

import numpy as np

from .ops import elementwise as E, linalg as L, reduce as R, shape as S
from .tensor import Tensor


def _classes(module, *names):
    """The named Function classes of an ops module; a missing name only loses its tangent rule (the
    products then take the double-backward path), never correctness."""
    return {cls for cls in (getattr(module, n, None) for n in names) if cls is not None}


_LINEAR = (_classes(E, "Add", "Sub", "Neg", "Cast") | _classes(R, "Sum")
           | _classes(S, "Reshape", "Permute", "Expand", "GetItem", "Cat", "Split", "Stack", "Unbind"))
_BILINEAR = _classes(E, "Mul") | _classes(L, "MatMul")
_UNARY = _classes(E, "Tanh", "Sigmoid", "Exp", "Log", "Sqrt", "Relu")
_DIV, _POW, _AFFINE = getattr(E, "Div", None), getattr(E, "PowScalar", None), getattr(L, "Linear", None)
SUPPORTED = _LINEAR | _BILINEAR | _UNARY | {c for c in (_DIV, _POW, _AFFINE) if c is not None}


def _unary(fn, x, t):
    name = fn.__name__
    if name == "Tanh":
        y = np.tanh(x)
        return t * (1.0 - y * y)
    if name == "Sigmoid":
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return t * (y * (1.0 - y))
    if name == "Exp":
        return t * np.exp(x)
    if name == "Log":
        return t / x
    if name == "Sqrt":
        return t / (2.0 * np.sqrt(x))
    return t * (x > 0)  # Relu


class Unsupported(Exception):
    """The graph holds an op without a tangent rule here."""


def _ctx():
    return types.SimpleNamespace(save_for_backward=lambda *items: None, needs_input_grad=())


def _value(t):
    return t.detach().numpy()


def _differentiable(a):
    return isinstance(a, Tensor) and a.requires_grad


class TangentPlan:
    """The nodes between `inputs` and `outputs` in topological order, checked once, run per tangent."""

    def __init__(self, outputs, inputs):
        self.outputs = list(outputs)
        self.leaf_index = {id(t): k for k, t in enumerate(inputs)}
        self.order = []
        seen = set()
        stack = [(o._ctx, False) for o in self.outputs if o._ctx is not None and o.requires_grad]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                self.order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.fn not in SUPPORTED:
                raise Unsupported(node.fn.__name__)
            stack.append((node, True))
            stack.extend((a._ctx, False) for a in node.inputs
                         if _differentiable(a) and a._ctx is not None and id(a._ctx) not in seen)

    def __call__(self, vs):
        """J v: one array per output (zeros where no input reaches it); vs are arrays shaped as the inputs."""
        leaf = {k: np.asarray(v) for k, v in enumerate(vs)}
        tangents = {}

        def tangent(a):
            if not _differentiable(a):
                return None
            if a._ctx is None:
                return leaf.get(self.leaf_index.get(id(a)))
            return tangents.get((id(a._ctx), a._index))

        for node in self.order:
            out = _push(node, [tangent(a) for a in node.inputs])
            if out is None:
                continue
            for i, t in enumerate(out if isinstance(out, tuple) else (out,)):
                tangents[(id(node), i)] = t
        result = []
        for o in self.outputs:
            t = tangent(o)
            result.append(np.zeros(o.shape, o.dtype) if t is None else np.asarray(t, o.dtype).reshape(o.shape))
        return result


def _push(node, ts):
    """The tangent of node's output(s) from its inputs' tangents (None: all zero)."""
    if all(t is None for t in ts):
        return None
    fn, args = node.fn, node.inputs
    if fn in _LINEAR:
        mapped = [t if t is not None else (np.zeros(a.shape, a.dtype) if _is_float(a) else _plain(a))
                  for a, t in zip(args, ts)]
        return fn.forward(_ctx(), *mapped)
    if fn in _BILINEAR:
        total = None
        values = [_plain(a) for a in args]
        for k, t in enumerate(ts):
            if t is not None:
                term = fn.forward(_ctx(), *(t if j == k else v for j, v in enumerate(values)))
                total = term if total is None else total + term
        return total
    if fn is _AFFINE:  # x Wᵀ + b
        x, w = _plain(args[0]), _plain(args[1])
        terms = [None if ts[0] is None else fn.forward(_ctx(), ts[0], w, None),
                 None if ts[1] is None else fn.forward(_ctx(), x, ts[1], None), ts[2]]
        total = sum(t for t in terms if t is not None)
        return np.broadcast_to(total, x.shape[:-1] + w.shape[:1]).copy() if ts[0] is None and ts[1] is None else total
    if fn in _UNARY:
        return _unary(fn, _value(args[0]), ts[0])
    if fn is _DIV:
        a, b = _plain(args[0]), _plain(args[1])
        out = 0.0 if ts[0] is None else ts[0] / b
        return out if ts[1] is None else out - a * ts[1] / (b * b)
    if fn is _POW:
        a, p = _value(args[0]), args[1]
        return ts[0] * (p * a ** (p - 1))
    raise Unsupported(fn.__name__)


def _is_float(a):
    return isinstance(a, Tensor) and a.dtype.kind == "f"


def _plain(a):
    return _value(a) if isinstance(a, Tensor) else a
