"""Finite-difference checks of gradients (gradcheck) and of backward passes (gradgradcheck).

Central differences in float64: ∂f/∂x ≈ (f(x + ε) - f(x - ε)) / 2ε, accurate to O(ε²).
mode="full" builds the whole Jacobian, one backward per output element and two forwards per input
element, and reports the worst entry. mode="projection" compares one random directional derivative
per draw: uᵀ J v from one backward against (uᵀf(x + εv) - uᵀf(x - εv)) / 2ε — two forward passes
whatever the number of parameters, so a whole LSTM over a long sequence is cheap to check.

`gradcheck_report` returns what was compared, one `InputCheck` per differentiable input (its worst
entry; with mode="projection" and per_input=False one joint check per draw, reported as input
"all"); `gradcheck` passes or raises on that report.

fn is always evaluated in the grad mode the caller has (not under no_grad), so a function that
registers hooks or otherwise needs a graph works here as it does under backward; and every
perturbed input is restored even when fn raises.
"""
from dataclasses import dataclass

import numpy as np

from . import autograd
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """A gradient disagreed with finite differences; the message is the report."""


@dataclass(frozen=True)
class InputCheck:
    """The worst comparison for one differentiable input (its position, or "all" for a joint
    projection): passes when |analytic - numeric| <= atol + rtol |numeric|."""
    input: object
    index: object  # the input's element (full) or "projection p"
    output: object  # the output element (full) or "uᵀJv"
    analytic: float
    numeric: float
    atol: float
    rtol: float

    @property
    def error(self):
        return abs(self.analytic - self.numeric)

    @property
    def tolerance(self):
        return self.atol + self.rtol * abs(self.numeric)

    @property
    def passed(self):
        return bool(self.error <= self.tolerance)  # NaN fails

    @property
    def excess(self):
        """error - tolerance (> 0 fails); infinite for NaN, the worst there is."""
        return np.inf if np.isnan(self.error) else self.error - self.tolerance

    def __str__(self):
        return (f"input {self.input}, index {self.index}, output element {self.output}: analytic "
                f"{self.analytic:.10g} vs numeric {self.numeric:.10g} (|diff| {self.error:.3g} "
                f"{'<=' if self.passed else '>'} atol {self.atol:g} + rtol {self.rtol:g} * |numeric|)")


class GradcheckReport(list):
    """The InputChecks of one gradcheck, in input order; `passed`, `worst` and a printable summary."""

    def __init__(self, mode, checks):
        super().__init__(checks)
        self.mode = mode

    @property
    def passed(self):
        return all(c.passed for c in self)

    @property
    def worst(self):
        """The check furthest over (or least under) its tolerance; NaN counts as furthest."""
        return max(self, key=lambda c: c.excess, default=None)

    def __str__(self):
        return "\n".join(f"gradcheck ({self.mode}) {'ok' if c.passed else 'failed'}: {c}" for c in self)


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _check_inputs(inputs, name):
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError(f"{name}: no input requires grad, so there is nothing to check")
    for k, t in enumerate(diff):
        if t.dtype != np.float64:
            raise TypeError(f"{name}: differentiable input {k} is {t.dtype}; finite differences need float64 "
                            "(use .double() on tensors and modules)")
    return inputs, diff


def _analytic_vjp(fn, inputs, diff, us):
    """Σ_outputs uᵀ J for each differentiable input, by one backward pass."""
    outs = _outputs(fn, inputs)
    grads = autograd.grad(outs, diff, [Tensor._make(u) for u in us], allow_unused=True)
    return [np.zeros(t.shape) if g is None else g._data.astype(np.float64) for g, t in zip(grads, diff)]


def _directional(fn, inputs, diff, vs, us, eps):
    """(uᵀf(x + εv) - uᵀf(x - εv)) / 2ε, perturbing the inputs in place and restoring them."""
    saved = [t._data.copy() for t in diff]
    try:
        values = []
        for sign in (1.0, -1.0):
            for t, v, s in zip(diff, vs, saved):
                t._data[...] = s + sign * eps * v
            outs = _outputs(fn, inputs)
            values.append(sum(float(np.sum(o._data * u)) for o, u in zip(outs, us)))
        return (values[0] - values[1]) / (2 * eps)
    finally:
        for t, s in zip(diff, saved):
            t._data[...] = s


def _flat_outputs(fn, inputs):
    return np.concatenate([o._data.astype(np.float64).ravel() for o in _outputs(fn, inputs)] + [np.zeros(0)])


def _numeric_columns(fn, inputs, t, eps):
    """∂(all outputs)/∂t[idx] for every element of t, one column each."""
    cols, arr = [], t._data
    for idx in np.ndindex(t.shape):
        orig = arr[idx].copy()
        try:
            arr[idx] = orig + eps
            plus = _flat_outputs(fn, inputs)
            arr[idx] = orig - eps
            minus = _flat_outputs(fn, inputs)
        finally:
            arr[idx] = orig
        cols.append((plus - minus) / (2 * eps))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def _full(fn, inputs, diff, eps, atol, rtol):
    outs = [o._data for o in _outputs(fn, inputs)]
    n_out = sum(o.size for o in outs)
    analytic = [np.zeros((n_out, t.numel())) for t in diff]
    for j in range(n_out):
        unit = np.zeros(n_out)
        unit[j] = 1.0
        parts = np.split(unit, np.cumsum([o.size for o in outs])[:-1])
        rows = _analytic_vjp(fn, inputs, diff, [u.reshape(o.shape) for u, o in zip(parts, outs)])
        for k, r in enumerate(rows):
            analytic[k][j] = r.ravel()
    checks = []
    for k, t in enumerate(diff):
        numeric = _numeric_columns(fn, inputs, t, eps)
        if numeric.size == 0:
            continue
        err = np.abs(analytic[k] - numeric) - rtol * np.abs(numeric)
        j, i = np.unravel_index(np.argmax(err), err.shape)
        idx = tuple(int(v) for v in np.unravel_index(i, t.shape)) if t.ndim else ()
        checks.append(InputCheck(k, idx, int(j), float(analytic[k][j, i]), float(numeric[j, i]), atol, rtol))
    return checks


def _projection(fn, inputs, diff, eps, atol, rtol, n_projections, seed, per_input):
    """Per draw p: uᵀJv against its central difference, jointly over the inputs or input by input."""
    rng = np.random.default_rng(seed)
    outs = [o._data for o in _outputs(fn, inputs)]
    groups = [[k] for k in range(len(diff))] if per_input else [list(range(len(diff)))]
    worst = {}
    for p in range(n_projections):
        us = [rng.standard_normal(o.shape) for o in outs]
        vs = [rng.standard_normal(t.shape) for t in diff]
        analytic = _analytic_vjp(fn, inputs, diff, us)
        for group in groups:
            a = float(sum(np.sum(analytic[k] * vs[k]) for k in group))
            num = _directional(fn, inputs, [diff[k] for k in group], [vs[k] for k in group], us, eps)
            check = InputCheck(group[0] if per_input else "all", f"projection {p}", "uᵀJv", a, num, atol, rtol)
            if check.input not in worst or check.excess > worst[check.input].excess:
                worst[check.input] = check
    return list(worst.values())


def gradcheck_report(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", n_projections=3, seed=0,
                     per_input=False):
    """Compare fn's analytic gradients with central differences and return a GradcheckReport: one
    InputCheck per differentiable input (mode="full", or "projection" with per_input=True, which
    perturbs one input at a time: two forwards per input and draw) or one joint check ("projection"
    with per_input=False: two forwards per draw whatever the number of inputs)."""
    if mode not in ("full", "projection"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'projection', got {mode!r}")
    inputs, diff = _check_inputs(inputs, "gradcheck")
    if mode == "full":
        checks = _full(fn, inputs, diff, eps, atol, rtol)
    else:
        checks = _projection(fn, inputs, diff, eps, atol, rtol, n_projections, seed, per_input)
    return GradcheckReport(mode, checks)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", raise_exception=True,
              n_projections=3, seed=0):
    """Check fn's analytic gradients w.r.t. every input that requires grad against central differences.

    Passes when |analytic - numeric| <= atol + rtol |numeric| everywhere. Returns True, or raises
    GradcheckError (returns False with raise_exception=False) naming the worst disagreement.
    """
    report = gradcheck_report(fn, inputs, eps, atol, rtol, mode, n_projections, seed)
    if report.passed:
        return True
    if raise_exception:
        raise GradcheckError(f"gradcheck ({mode}) failed: {report.worst}")
    return False


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full",
                  raise_exception=True, n_projections=3, seed=0):
    """Check the backward pass itself: gradcheck of (inputs, grad_outputs) -> gradients of fn."""
    inputs, diff = _check_inputs(inputs, "gradgradcheck")
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), dtype=np.float64, requires_grad=True) for o in outs]
    n_in = len(inputs)

    def backward_of_fn(*args):
        # grad mode on even if the caller has it off: the gradients are computed through the graph,
        # so without it there would be nothing to compare
        xs, gos = args[:n_in], args[n_in:]
        with autograd.enable_grad():
            grads = autograd.grad(_outputs(fn, xs), [t for t in xs if isinstance(t, Tensor) and t.requires_grad],
                                  list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    return gradcheck(backward_of_fn, list(inputs) + list(grad_outputs), eps, atol, rtol, mode,
                     raise_exception, n_projections, seed)
