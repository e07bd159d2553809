"""RMSprop (Hinton), optionally centered and with momentum."""
import numpy as np

from .optimizer import Optimizer, grad_term, lerp_


class RMSprop(Optimizer):
    """v = α v + (1-α) d²;  s = √v + eps;  p -= lr d/s, or with momentum b = μ b + d/s, p -= lr b.

    d = ±g + wd p. Centered: s = √(v - ḡ²) + eps with ḡ = α ḡ + (1-α) d, the running mean gradient.
    """

    _nonnegative = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _init_state(self, p, group):
        state = {"step": 0, "square_avg": np.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p)
        return state

    def _update(self, p, g, state, group):
        alpha, lr = group["alpha"], group["lr"]
        d = grad_term(p, g, group["weight_decay"], group["maximize"])
        state["step"] += 1
        v, tmp = state["square_avg"], np.empty_like(p)
        v *= alpha
        np.multiply(d, 1 - alpha, out=tmp)
        tmp *= d
        v += tmp
        if group["centered"]:
            mean = state["grad_avg"]
            lerp_(mean, d, 1 - alpha, tmp)
            np.multiply(mean, mean, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += group["eps"]
        np.divide(d, tmp, out=tmp)
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += tmp
            np.multiply(buf, -lr, out=tmp)
        else:
            tmp *= -lr
        p += tmp
