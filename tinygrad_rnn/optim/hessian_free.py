"""Hessian-free optimisation (Martens 2010; Martens & Sutskever 2011): truncated Newton steps on the
Gauss-Newton curvature, found by conjugate gradient from matrix-vector products alone.

One step at parameters θ with gradient g and Gauss-Newton matrix G (curvature.GaussNewton):
1. CG on (G + λI + λμ J_hᵀJ_h) p = -g, started from ζ·p_prev (warm start), stopped by Martens's
   relative-progress test on the quadratic φ(p) = ½pᵀAp + gᵀp or at max_cg_iters;
2. CG backtracking: of the iterates kept at iterations ⌈1.3^j⌉, the last one whose objective is not
   beaten by the one kept before it;
3. Levenberg-Marquardt damping: ρ = (f(θ + p) - f(θ)) / φ(p); λ ← 3λ/2 if ρ < ¼, 2λ/3 if ρ > ¾;
4. a backtracking line search on the step size (α ← 0.8α while the Armijo condition fails).
Structural damping (Martens & Sutskever 2011): when the closure also returns the hidden states h
(a Tensor or a sequence of them, one per step), the curvature adds λμ·J_hᵀJ_h / n_h, the Gauss-Newton
matrix of the penalty λμ·½·mean((h - h(θ))²) over all n_h hidden values, which
keeps a step from changing the hidden dynamics much more than the quadratic model can see.

Not implemented from the papers: the diagonal preconditioner (it needs per-example gradients), a
curvature mini-batch smaller than the gradient's, the matching-loss form of the structural penalty
(here it is the squared distance for any hidden nonlinearity) and the adaptive CG iteration limits.
"""
import math

import numpy as np

from .. import autograd
from ..curvature import GaussNewton
from ..tensor import Tensor
from .optimizer import Optimizer


class HessianFree(Optimizer):
    """Hessian-free optimiser; closure-based like torch.optim.LBFGS, one parameter group.

    `closure()` re-runs the model on the current batch and returns `(outputs, targets)`, or
    `(outputs, targets, hidden)` for structural damping (hidden: a Tensor or a sequence of Tensors);
    the objective is `loss_fn(outputs, targets)`,
    which must be convex in outputs (MSE, cross-entropy) for the Gauss-Newton matrix to be positive
    semi-definite. `step(closure)` returns the objective before the step. Options: damping (λ, adapted
    each step and kept in the group), structural_damping (μ), max_cg_iters, min_cg_iters, cg_tol (ε of
    the stopping test), cg_decay (ζ), lr (the largest step size of the line search), line_search.
    After a step, `last` holds its diagnostics: loss, new_loss, rho, damping, cg_iters, step_size.
    """

    _nonnegative = ("lr", "damping", "structural_damping", "cg_tol", "cg_decay")

    def __init__(self, params, loss_fn, lr=1.0, damping=1.0, structural_damping=0.0, max_cg_iters=250,
                 min_cg_iters=10, cg_tol=5e-4, cg_decay=0.95, line_search=True):
        if not callable(loss_fn):
            raise TypeError(f"HessianFree: loss_fn must be callable, got {type(loss_fn).__name__}")
        for name, value in (("max_cg_iters", max_cg_iters), ("min_cg_iters", min_cg_iters)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"HessianFree: {name} must be an int >= 1, got {value!r}")
        super().__init__(params, dict(lr=lr, damping=damping, structural_damping=structural_damping,
                                      max_cg_iters=int(max_cg_iters), min_cg_iters=int(min_cg_iters),
                                      cg_tol=cg_tol, cg_decay=cg_decay, line_search=bool(line_search)))
        if len(self.param_groups) != 1:
            raise ValueError("HessianFree doesn't support per-parameter options (parameter groups)")
        if not damping > 0:
            raise ValueError(f"HessianFree: damping must be > 0, got {damping!r}")
        self.loss_fn = loss_fn
        self.last = {}

    @property
    def _params(self):
        return self.param_groups[0]["params"]

    # --- flat vectors -------------------------------------------------------------------------------
    def _flat(self, arrays):
        return np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays])

    def _split(self, vector):
        out, k = [], 0
        for p in self._params:
            out.append(Tensor(vector[k:k + p.numel()].reshape(p.shape).astype(p.dtype)))
            k += p.numel()
        return out

    def _values(self):
        return self._flat([p.detach().numpy() for p in self._params])

    def _set(self, vector):
        with autograd.no_grad():
            for p, v in zip(self._params, self._split(vector)):
                p.copy_(v)

    def _objective(self, closure, theta):
        self._set(theta)
        with autograd.no_grad():
            outputs, targets = _unpack(closure())[:2]
            value = float(self.loss_fn(outputs, targets).item())
        return value if math.isfinite(value) else math.inf

    # --- one step -----------------------------------------------------------------------------------
    def step(self, closure):
        """One Hessian-free step; returns the objective (a 0-d Tensor) at the parameters it started from."""
        if closure is None:
            raise ValueError("HessianFree.step needs a closure that returns (outputs, targets[, hidden])")
        group = self.param_groups[0]
        params = self._params
        lam, mu = group["damping"], group["structural_damping"]
        with autograd.enable_grad():
            outputs, targets, hidden = _unpack(closure())
            loss = self.loss_fn(outputs, targets)
            grads = autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            g = self._flat([np.zeros(p.shape) if d is None else d.detach().numpy() for d, p in zip(grads, params)])
            gn = self._curvature(outputs, targets, hidden, lam * mu)
        f0 = float(loss.item())

        def product(v):
            return self._flat([t.numpy() for t in gn(self._split(v))]) + lam * v

        start = self._warm_start(group["cg_decay"])
        iterates, final, cg_iters = conjugate_gradient(product, -g, start, group["max_cg_iters"],
                                                       group["min_cg_iters"], group["cg_tol"])
        del gn, outputs, hidden, loss
        theta = self._values()
        try:
            p, phi, f_p = self._backtrack(closure, theta, iterates)
            alpha, f_new = self._line_search(closure, theta, p, g, f0, f_p, group)
        except BaseException:
            self._set(theta)  # a failing closure (or Ctrl-C) leaves the parameters where they were
            raise
        self._set(theta + alpha * p)
        rho = (f_p - f0) / phi if phi < 0 else -math.inf
        if rho < 0.25:
            lam *= 1.5
        elif rho > 0.75:
            lam *= 2.0 / 3.0
        group["damping"] = lam
        for param, d in zip(params, self._split(final)):
            state = self.state.setdefault(param, {})
            state["direction"] = d.numpy()
            state["step"] = state.get("step", 0) + 1
        self.last = dict(loss=f0, new_loss=f_new, rho=rho, damping=lam, cg_iters=cg_iters, step_size=alpha)
        return Tensor(np.asarray(f0))

    def _curvature(self, outputs, targets, hidden, weight):
        loss_fn = self.loss_fn
        if not hidden or weight == 0:
            return GaussNewton(outputs, self._params, lambda z: loss_fn(z, targets))
        anchors = [h.detach() for h in hidden]
        count = sum(h.numel() for h in hidden)

        def penalised(z, *hs):
            penalty = sum(((h - a) * (h - a)).sum() for h, a in zip(hs, anchors))
            return loss_fn(z, targets) + penalty * (0.5 * weight / count)
        return GaussNewton((outputs, *hidden), self._params, penalised)

    def _warm_start(self, decay):
        states = [self.state.get(p, {}).get("direction") for p in self._params]
        if any(s is None for s in states):
            return np.zeros(sum(p.numel() for p in self._params))
        return decay * self._flat(states)

    def _backtrack(self, closure, theta, iterates):
        """The last kept CG iterate, or an earlier one while that lowers the objective (Martens 2010)."""
        p, phi = iterates[-1]
        f = self._objective(closure, theta + p)
        for q, phi_q in reversed(iterates[:-1]):
            f_q = self._objective(closure, theta + q)
            if not f_q < f:
                break
            p, phi, f = q, phi_q, f_q
        return p, phi, f

    def _line_search(self, closure, theta, p, g, f0, f_p, group):
        """Step size α: lr, shrunk by 0.8 until f(θ + αp) <= f(θ) + 0.01 α gᵀp; 0 if that never holds."""
        alpha, slope = group["lr"], float(g @ p)
        f = f_p if alpha == 1.0 else self._objective(closure, theta + alpha * p)
        if not group["line_search"]:
            return alpha, f
        for _ in range(60):
            if f <= f0 + 0.01 * alpha * slope:
                return alpha, f
            alpha *= 0.8
            f = self._objective(closure, theta + alpha * p)
        return 0.0, f0


def conjugate_gradient(product, b, x0, max_iters, min_iters=10, tol=5e-4, keep_every=1.3):
    """Minimise φ(x) = ½xᵀAx - bᵀx by CG from x0, A given as product(v) = Av.

    Stops at max_iters, or when the relative progress over the last k = max(min_iters, ⌈0.1 i⌉)
    iterations falls below k·tol: (φ_i - φ_{i-k}) / φ_i < k·tol (Martens 2010, section 4.4).
    Returns (kept, final, iterations): kept is [(x_i, φ(x_i))] at i = ⌈keep_every^j⌉ and the last i.
    """
    x = np.array(x0, dtype=np.float64)
    r = b - product(x)
    d = r.copy()
    rr = float(r @ r)
    phis = [-0.5 * float(x @ (b + r))]
    kept, kept_at = [], -1
    next_keep, j = 1, 0
    i = 0
    while i < max_iters and rr > 0:
        ad = product(d)
        curvature = float(d @ ad)
        if not curvature > 0:
            break
        step = rr / curvature
        x += step * d
        r -= step * ad
        rr_new = float(r @ r)
        d = r + (rr_new / rr) * d
        rr = rr_new
        i += 1
        phis.append(-0.5 * float(x @ (b + r)))
        if i == next_keep:
            kept.append((x.copy(), phis[-1]))
            kept_at = i
            while next_keep <= i:
                j += 1
                next_keep = math.ceil(keep_every ** j)
        k = max(min_iters, math.ceil(0.1 * i))
        if i > k and phis[-1] < 0 and (phis[-1] - phis[-1 - k]) / phis[-1] < k * tol:
            break
    if kept_at != i:
        kept.append((x.copy(), phis[-1]))
    return kept, x, i


def _unpack(result):
    """(outputs, targets, hidden as a tuple of Tensors, possibly empty) from what the closure returned."""
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
        raise ValueError("HessianFree: the closure must return (outputs, targets) or (outputs, targets, hidden), "
                         f"got {type(result).__name__}")
    outputs, targets = result[0], result[1]
    hidden = () if len(result) == 2 else (result[2],) if isinstance(result[2], Tensor) else tuple(result[2])
    for name, t in [("outputs", outputs)] + [("hidden", h) for h in hidden]:
        if not isinstance(t, Tensor):
            raise TypeError(f"HessianFree: the closure's {name} must be a Tensor, got {type(t).__name__}")
    return outputs, targets, hidden
