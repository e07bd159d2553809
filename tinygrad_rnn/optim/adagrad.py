"""Adagrad (Duchi et al.): per-coordinate steps shrinking with the accumulated squared gradients."""
import numpy as np

from .optimizer import Optimizer, grad_term


class Adagrad(Optimizer):
    """s += d²;  p -= lr / (1 + (t-1) lr_decay) · d / (√s + eps).

    d = ±g + wd p; s starts at initial_accumulator_value (per group); t counts this parameter's steps.
    """

    _nonnegative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _init_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p, group["initial_accumulator_value"])}

    def _update(self, p, g, state, group):
        d = grad_term(p, g, group["weight_decay"], group["maximize"])
        state["step"] = t = state["step"] + 1
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        s, tmp = state["sum"], np.multiply(d, d)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += group["eps"]
        np.divide(d, tmp, out=tmp)
        tmp *= -clr
        p += tmp
