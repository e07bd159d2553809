"""Forward-mode tangents over a recorded graph: J v in one pass, on NumPy arrays, no new graph.

The engine records, for every node, its Function class and the arguments given to apply; that is
enough to push a tangent through the common ops. Linear ops (add, sub, neg, reshape, permute, expand,
indexing, cat, split, cast, sum) map tangents by their own forward; bilinear ones (mul, matmul) by
the product rule; tanh, sigmoid, exp, log, sqrt, relu, div and powers by their derivative at the
recorded input values. A graph holding any other op (a fused recurrent kernel, a softmax) is
`Unsupported`, and the caller falls back to the double-backward trick.
"""
import types

import numpy as np

from .ops import elementwise as E, linalg as L, reduce as R, shape as S
from .tensor import Tensor

_LINEAR = {E.Add, E.Sub, E.Neg, E.Cast, S.Reshape, S.Permute, S.Expand, S.GetItem, S.Cat, S.Split, R.Sum}
_BILINEAR = {E.Mul, L.MatMul}


def _unary(fn, x, t):
    if fn is E.Tanh:
        y = np.tanh(x)
        return t * (1.0 - y * y)
    if fn is E.Sigmoid:
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return t * (y * (1.0 - y))
    if fn is E.Exp:
        return t * np.exp(x)
    if fn is E.Log:
        return t / x
    if fn is E.Sqrt:
        return t / (2.0 * np.sqrt(x))
    if fn is E.Relu:
        return t * (x > 0)
    return None


_UNARY = {E.Tanh, E.Sigmoid, E.Exp, E.Log, E.Sqrt, E.Relu}
SUPPORTED = _LINEAR | _BILINEAR | _UNARY | {E.Div, E.PowScalar}


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
    if fn in _UNARY:
        return _unary(fn, _value(args[0]), ts[0])
    if fn is E.Div:
        a, b = _plain(args[0]), _plain(args[1])
        out = 0.0 if ts[0] is None else ts[0] / b
        return out if ts[1] is None else out - a * ts[1] / (b * b)
    if fn is E.PowScalar:
        a, p = _value(args[0]), args[1]
        return ts[0] * (p * a ** (p - 1))
    raise Unsupported(fn.__name__)


def _is_float(a):
    return isinstance(a, Tensor) and a.dtype.kind == "f"


def _plain(a):
    return _value(a) if isinstance(a, Tensor) else a
