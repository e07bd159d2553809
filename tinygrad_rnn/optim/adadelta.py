"""Adadelta (Zeiler 2012): steps scaled by the ratio of running RMS of past updates to past gradients."""
import numpy as np

from .optimizer import Optimizer, grad_term


class Adadelta(Optimizer):
    """v = ρ v + (1-ρ) d²;  Δ = √(u + eps) / √(v + eps) · d;  u = ρ u + (1-ρ) Δ²;  p -= lr Δ.  d = ±g + wd p."""

    _nonnegative = ("lr", "rho", "eps", "weight_decay")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate(self, options):
        super()._validate(options)
        if not options["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {options['rho']!r}, expected 0 <= rho <= 1")

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}

    def _update(self, p, g, state, group):
        rho, eps = group["rho"], group["eps"]
        d = grad_term(p, g, group["weight_decay"], group["maximize"])
        state["step"] += 1
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * d * d
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * d
        u *= rho
        u += (1 - rho) * delta * delta
        p -= group["lr"] * delta
