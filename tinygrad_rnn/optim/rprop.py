"""Rprop (Riedmiller & Braun 1993): per-element step sizes that grow while the gradient keeps its sign
and shrink when it flips; only the gradient's sign is used."""
import numpy as np

from .optimizer import Optimizer


class Rprop(Optimizer):
    """s = clip(s · (η+ if g·g_prev > 0, η- if < 0, else 1), step_sizes); after a flip g = 0;
    p -= sign(g) s;  g_prev = g.  s starts at lr."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, foreach=None, maximize=False):
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def _validate(self, options):
        super()._validate(options)
        minus, plus = options["etas"]
        if not 0.0 < minus < 1.0 < plus:
            raise ValueError(f"Rprop: invalid etas {options['etas']!r}, expected 0 < eta- < 1 < eta+")

    def _init_state(self, p, group):
        return {"step": 0, "prev": np.zeros_like(p), "step_size": np.full_like(p, group["lr"])}

    def _update(self, p, g, state, group):
        (minus, plus), (low, high) = group["etas"], group["step_sizes"]
        g = -g if group["maximize"] else g.copy()
        state["step"] += 1
        agreement = np.sign(g * state["prev"])
        factor = np.where(agreement > 0, plus, np.where(agreement < 0, minus, 1.0)).astype(p.dtype)
        size = state["step_size"]
        size *= factor
        np.clip(size, low, high, out=size)
        g[agreement < 0] = 0
        p -= np.sign(g) * size
        state["prev"][...] = g
