"""torch.autograd.functional, with its signatures and return structures: jacobian and hessian
(reverse mode, one backward per output element), and vjp, jvp, hvp, vhp (jvp and the Hessian
products by the double-backward trick, so that create_graph=True can differentiate them again).

A function of one Tensor gives Tensors back; of a tuple of Tensors, tuples in the same structure.
An input that does not reach the output gets zeros (strict=True raises instead), as in PyTorch."""
import numpy as np

from . import autograd
from .curvature import _as_tuple, _detached, _like, _outputs
from .ops import stack
from .tensor import Tensor


def _inputs(inputs, create_graph, name):
    xs = _as_tuple(inputs)
    for k, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: inputs must be a Tensor or a tuple of Tensors, input {k} is {type(x).__name__}")
    # with create_graph the caller's graph to the inputs is kept (a view), else they are fresh leaves
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_() for x in xs)


def _vectors(v, like, name, what):
    vs = (v,) if isinstance(v, Tensor) else tuple(v)
    if len(vs) != len(like) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(vs, like)):
        raise ValueError(f"{name}: v must have the shapes of the {what} {[tuple(t.shape) for t in like]}, "
                         f"got {[tuple(getattr(a, 'shape', ())) for a in vs]}")
    return vs


def _grads(outputs, xs, grad_outputs, create_graph, strict, name):
    live = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    grads = autograd.grad([o for o, _ in live], xs, [g for _, g in live], retain_graph=True,
                          create_graph=create_graph, allow_unused=True) if live else (None,) * len(xs)
    if strict and any(g is None for g in grads):
        k = next(k for k, g in enumerate(grads) if g is None)
        raise RuntimeError(f"{name}: the output does not depend on input {k} (strict=True)")
    return tuple(Tensor._make(np.zeros(x.shape, x.dtype)) if g is None else g for g, x in zip(grads, xs))


def _kept(value, create_graph):
    """value (a Tensor or a tuple of them) as returned: detached unless create_graph."""
    return value if create_graph else _detached(value)


def _ones_for_a_scalar(outs, name):
    if len(outs) != 1 or outs[0].numel() != 1:
        raise ValueError(f"{name}: v may be omitted only when func returns a single one-element Tensor")
    return (Tensor._make(np.ones(outs[0].shape, outs[0].dtype)),)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ J)."""
    xs = _inputs(inputs, create_graph, "vjp")
    with autograd.enable_grad():
        out, outs = _outputs(func, xs, "vjp")
        vs = _ones_for_a_scalar(outs, "vjp") if v is None else _vectors(v, outs, "vjp", "outputs")
        grads = _grads(outs, xs, vs, create_graph, strict, "vjp")
    return _kept(out, create_graph), _like(inputs, _kept(grads, create_graph))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by differentiating u -> Jᵀu (linear in u) once more."""
    xs = _inputs(inputs, create_graph, "jvp")
    vs = _ones_for_a_scalar(xs, "jvp") if v is None else _vectors(v, xs, "jvp", "inputs")
    with autograd.enable_grad():
        out, outs = _outputs(func, xs, "jvp")
        us = [Tensor._make(np.zeros(o.shape, o.dtype), requires_grad=True) for o in outs]
        jt = _grads(outs, xs, us, True, strict, "jvp")
        jv = _grads(jt, us, vs, create_graph, False, "jvp")
    return _kept(out, create_graph), _like(out, _kept(jv, create_graph))


def _gradient_of(func, name):
    def gradient(*xs):
        out, outs = _outputs(func, xs, name)
        if len(outs) != 1 or outs[0].numel() != 1:
            raise ValueError(f"{name}: func must return a single one-element Tensor, got shapes "
                             f"{[tuple(o.shape) for o in outs]}")
        return out, _grads(outs, xs, (Tensor._make(np.ones(outs[0].shape, outs[0].dtype)),), True, False, name)
    return gradient


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func: the gradient of ⟨∇f, v⟩."""
    xs = _inputs(inputs, create_graph, "hvp")
    vs = _ones_for_a_scalar(xs, "hvp") if v is None else _vectors(v, xs, "hvp", "inputs")
    with autograd.enable_grad():
        out, g = _gradient_of(func, "hvp")(*xs)
        hv = _grads(g, xs, vs, create_graph, strict, "hvp")
    return _kept(out, create_graph), _like(inputs, _kept(hv, create_graph))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ H): the same as hvp, H being symmetric."""
    return hvp(func, inputs, v, create_graph, strict)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """∂ outputs / ∂ inputs: for each output and input a Tensor of shape output.shape + input.shape
    (a Tensor for one of each; tuples otherwise, outputs outermost). vectorize and strategy, PyTorch's
    speed options, are accepted; the rows are computed one backward each."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    xs = _inputs(inputs, create_graph, "jacobian")
    with autograd.enable_grad():
        out, outs = _outputs(func, xs, "jacobian")
        blocks = [_jacobian_rows(o, xs, create_graph, strict) for o in outs]
    return _like(out, [_like(inputs, _kept(row, create_graph)) for row in blocks])


def _jacobian_rows(output, xs, create_graph, strict):
    flat = output.reshape(-1)
    rows = [[] for _ in xs]
    for i in range(flat.shape[0]):
        seed = np.zeros(flat.shape, flat.dtype)
        seed[i] = 1
        for k, g in enumerate(_grads((flat,), xs, (Tensor._make(seed),), create_graph, strict, "jacobian")):
            rows[k].append(g)
    return tuple((stack(r) if r else Tensor._make(np.zeros((0,) + tuple(x.shape), x.dtype)))
                 .reshape(*output.shape, *x.shape) for r, x in zip(rows, xs))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """∂²f / ∂inputs² of a scalar func: of shape input.shape + input.shape (tuples of tuples for
    several inputs)."""
    xs = _inputs(inputs, create_graph, "hessian")
    gradient = _gradient_of(func, "hessian")
    h = jacobian(lambda *a: gradient(*a)[1], xs, create_graph, strict)
    return h[0][0] if isinstance(inputs, Tensor) else h
