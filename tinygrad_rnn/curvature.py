"""Curvature products jvp, vjp, hvp, gnvp, and a reusable Gauss-Newton operator, on the recorded graph.

A Jacobian-vector product J v comes from a forward pass of tangents over the recorded graph
(tangents.py) when every op on the way has a tangent rule, and otherwise from the double-backward
trick: g(u) = Jᵀu is linear in u, so recording that backward (create_graph=True) with a dummy u and
differentiating ⟨g(u), v⟩ with respect to u gives J v. That costs a backward over the backward graph
(which, through the saved forward values, also walks the forward graph): two to three passes with
the engine's per-op overhead, against one pass on plain arrays. Hv is the gradient of ⟨∇f, v⟩; the
Gauss-Newton product Jᵀ H_L J v chains J v, the loss's Hessian at the outputs, and a vector-Jacobian
product.

hvp, and J v through an op without a tangent rule, need every op on the way to be twice
differentiable: recurrent layers with impl="unrolled" (the fused kernels are once differentiable).
Inputs that are leaves requiring grad (a module's parameters) are used as they are, so `fn` may reach
them through a module; other inputs are replaced by detached copies that require grad. Results are
detached Tensors (no graph), shaped as the inputs (or outputs, for jvp).
"""
import numpy as np

from . import autograd, tangents
from .tensor import Tensor


def _as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _like(structure, items):
    """items as one Tensor if structure was a single Tensor, else as a tuple."""
    return items[0] if isinstance(structure, Tensor) else tuple(items)


def _leaves(inputs, name):
    inputs = _as_tuple(inputs)
    if not inputs:
        raise ValueError(f"{name}: inputs is empty")
    out = []
    for k, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: inputs[{k}] must be a Tensor, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: inputs[{k}] must be floating point, got {x.dtype}")
        out.append(x if x.is_leaf and x.requires_grad else x.detach().requires_grad_())
    return tuple(out)


def _vectors(v, like, name, what):
    """v as a tuple of detached Tensors with the shapes of `like` (Tensors, arrays or numbers)."""
    vs = _as_tuple(v) if isinstance(v, (Tensor, tuple, list)) else (v,)
    if len(vs) != len(like):
        raise ValueError(f"{name}: {what} has {len(vs)} entries, expected {len(like)}")
    out = []
    for k, (a, t) in enumerate(zip(vs, like)):
        arr = a.detach().numpy() if isinstance(a, Tensor) else np.asarray(a, dtype=t.dtype)
        if arr.shape != t.shape:
            raise ValueError(f"{name}: {what}[{k}] has shape {arr.shape}, expected {t.shape}")
        out.append(Tensor(arr.astype(t.dtype, copy=False)))
    return tuple(out)


def _zeros_for_none(grads, like):
    return tuple(Tensor(np.zeros(t.shape, t.dtype)) if g is None else g.detach() for g, t in zip(grads, like))


def _outputs(fn, xs, name):
    out = fn(*xs)
    outs = _as_tuple(out)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"{name}: fn must return Tensors, output {k} is {type(o).__name__}")
    return out, outs


def vjp(fn, inputs, v):
    """(fn(*inputs), vᵀ J): the vector-Jacobian product, one backward pass. v is shaped as the outputs."""
    xs = _leaves(inputs, "vjp")
    with autograd.enable_grad():
        out, outs = _outputs(fn, xs, "vjp")
        vs = _vectors(v, outs, "vjp", "v")
        used = [(o, u) for o, u in zip(outs, vs) if o.requires_grad]
        grads = autograd.grad([o for o, _ in used], xs, [u for _, u in used], allow_unused=True) if used else \
            (None,) * len(xs)
    return _detached(out), _like(inputs, _zeros_for_none(grads, xs))


class JacobianProduct:
    """J v for the recorded graph from `inputs` to `outputs`, reusable for many v.

    mode="forward": tangents pushed through the recorded graph on arrays (tangents.py), one cheap
    pass; "double_backward": the backward g(u) = Jᵀu is recorded once with a dummy u that requires
    grad, and each product is one backward of ⟨g(u), v⟩ to u; "auto" (default) takes the forward
    pass when every op on the way has a tangent rule. Keeps the graph alive while it exists.
    """

    def __init__(self, outputs, inputs, mode="auto"):
        if mode not in ("auto", "forward", "double_backward"):
            raise ValueError(f"JacobianProduct: mode must be 'auto', 'forward' or 'double_backward', got {mode!r}")
        self.outputs = list(_as_tuple(outputs))
        self.inputs = list(_as_tuple(inputs))
        self.plan = None
        if mode != "double_backward":
            try:
                self.plan = tangents.TangentPlan(self.outputs, self.inputs)
            except tangents.Unsupported as e:
                if mode == "forward":
                    raise ValueError(f"JacobianProduct: no forward-mode rule for {e}; use mode='double_backward'") \
                        from None
        if self.plan is None:
            self._record_backward()

    def _record_backward(self):
        self.dummies = [Tensor(np.zeros(o.shape, o.dtype), requires_grad=True) for o in self.outputs]
        live = [(o, u) for o, u in zip(self.outputs, self.dummies) if o.requires_grad]
        with autograd.enable_grad():
            gs = autograd.grad([o for o, _ in live], self.inputs, [u for _, u in live], create_graph=True,
                               allow_unused=True) if live else (None,) * len(self.inputs)
        self.backward = [(g, k) for k, g in enumerate(gs) if g is not None and g.requires_grad]

    def __call__(self, vs):
        """J v for v a sequence of arrays or Tensors shaped as the inputs; a tuple shaped as the outputs."""
        arrays = [v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v) for v in vs]
        if self.plan is not None:
            return tuple(Tensor(t) for t in self.plan(arrays))
        if not self.backward:
            return tuple(Tensor(np.zeros(o.shape, o.dtype)) for o in self.outputs)
        grad_in = [Tensor(a.astype(self.inputs[k].dtype, copy=False)) for k, a in enumerate(arrays)]
        with autograd.enable_grad():
            jv = autograd.grad([g for g, _ in self.backward], self.dummies,
                               [grad_in[k] for _, k in self.backward], retain_graph=True, allow_unused=True)
        return _zeros_for_none(jv, self.outputs)


def jvp(fn, inputs, v, mode="auto"):
    """(fn(*inputs), J v): the Jacobian-vector product, v shaped as inputs. mode as JacobianProduct's."""
    xs = _leaves(inputs, "jvp")
    vs = _vectors(v, xs, "jvp", "v")
    with autograd.enable_grad():
        out, outs = _outputs(fn, xs, "jvp")
        jv = JacobianProduct(outs, xs, mode)(vs)
    return _detached(out), _like(out, jv)


def hvp(fn, inputs, v):
    """(fn(*inputs), H v) for a scalar fn: the gradient of ⟨∇f, v⟩ (H is symmetric, so vᵀH = Hv)."""
    xs = _leaves(inputs, "hvp")
    vs = _vectors(v, xs, "hvp", "v")
    with autograd.enable_grad():
        out, outs = _outputs(fn, xs, "hvp")
        if len(outs) != 1 or outs[0].numel() != 1:
            raise ValueError(f"hvp: fn must return a single scalar Tensor, got {[tuple(o.shape) for o in outs]}")
        g = autograd.grad(outs[0], xs, create_graph=True, allow_unused=True)
        live = [(gk, vk) for gk, vk in zip(g, vs) if gk is not None and gk.requires_grad]
        hv = autograd.grad([a for a, _ in live], xs, [b for _, b in live], allow_unused=True) if live else \
            (None,) * len(xs)
    return _detached(out), _like(inputs, _zeros_for_none(hv, xs))


class LossHessian:
    """H_L w for a loss of some outputs, at fixed output values: loss_fn's gradient is recorded once."""

    def __init__(self, loss_fn, outputs):
        self.points = [Tensor(o.detach().numpy(), requires_grad=True) for o in _as_tuple(outputs)]
        with autograd.enable_grad():
            self.loss = loss_fn(*self.points)
            if not isinstance(self.loss, Tensor) or self.loss.numel() != 1:
                raise ValueError("loss_fn must return a scalar Tensor")
            gs = autograd.grad(self.loss, self.points, create_graph=True, allow_unused=True)
        self.grads = [(g, k) for k, g in enumerate(gs) if g is not None and g.requires_grad]

    def __call__(self, ws):
        if not self.grads:
            return tuple(Tensor(np.zeros(p.shape, p.dtype)) for p in self.points)
        with autograd.enable_grad():
            hw = autograd.grad([g for g, _ in self.grads], self.points, [ws[k] for _, k in self.grads],
                               retain_graph=True, allow_unused=True)
        return _zeros_for_none(hw, self.points)


class GaussNewton:
    """G v = Jᵀ H_L J v for outputs z = net(params) and a loss L(z): positive semi-definite when L is
    convex in z, which is what makes it a good curvature for conjugate gradient (Schraudolph 2002).

    `outputs` must have been computed from `params` with grad on; `loss_fn(*outputs)` is re-evaluated
    on detached copies, so its Hessian graph is separate from the network's.
    """

    def __init__(self, outputs, params, loss_fn, mode="auto"):
        self.outputs = _as_tuple(outputs)
        self.params = list(_as_tuple(params))
        self.jacobian = JacobianProduct(self.outputs, self.params, mode)
        self.hessian = LossHessian(loss_fn, self.outputs)

    def __call__(self, vs):
        """G v for v shaped as the params (arrays or Tensors); a tuple of detached Tensors."""
        hjv = self.hessian(self.jacobian(vs))
        live = [(o, w) for o, w in zip(self.outputs, hjv) if o.requires_grad]
        with autograd.enable_grad():
            gv = autograd.grad([o for o, _ in live], self.params, [w for _, w in live], retain_graph=True,
                               allow_unused=True)
        return _zeros_for_none(gv, self.params)


def gnvp(fn, loss_fn, inputs, v):
    """(loss_fn(fn(*inputs)), Jᵀ H_L J v): the Gauss-Newton-vector product for a loss on fn's outputs.

    fn returns a Tensor or a tuple of them; loss_fn takes them (unpacked) and returns a scalar.
    """
    xs = _leaves(inputs, "gnvp")
    vs = _vectors(v, xs, "gnvp", "v")
    with autograd.enable_grad():
        _, outs = _outputs(fn, xs, "gnvp")
        gn = GaussNewton(outs, xs, loss_fn)
        gv = gn(vs)
    return gn.hessian.loss.detach(), _like(inputs, gv)


def _detached(out):
    return out.detach() if isinstance(out, Tensor) else tuple(o.detach() for o in out)
