"""Adam's variants, with PyTorch's formulas and state: Adamax (the infinity norm, Kingma & Ba), NAdam
(Nesterov momentum with Dozat's momentum decay), RAdam (the variance rectification of Liu et al.)."""
import numpy as np

from ..tensor import get_default_dtype
from .adam import AdamFamily
from .optimizer import lerp_


class Adamax(AdamFamily):
    """m = β1 m + (1-β1) d;  u = max(β2 u, |d| + eps);  p -= lr/(1-β1ᵗ) · m / u.  d = ±g + wd p."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_inf": np.zeros_like(p)}

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        d = self._decayed_grad(p, g, group)
        state["step"] = t = state["step"] + 1
        m, u = state["exp_avg"], state["exp_inf"]
        lerp_(m, d, 1 - beta1, np.empty_like(p))
        u *= beta2
        np.maximum(u, np.abs(d) + group["eps"], out=u)
        p -= group["lr"] / (1 - beta1 ** t) * m / u


class NAdam(AdamFamily):
    """Adam with Nesterov momentum: μₜ = β1 (1 - ½·0.96^(t ψ)), Πₜ = Π μ;  with v̂ = √(v / (1-β2ᵗ)) + eps,
    p -= lr (1-μₜ)/(1-Πₜ) · d/v̂ + lr μₜ₊₁/(1-Πₜ μₜ₊₁) · m/v̂."""

    _nonnegative = ("lr", "eps", "weight_decay", "momentum_decay")
    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_state(self, p, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}

    def _update(self, p, g, state, group):
        lr, (beta1, beta2), psi = group["lr"], group["betas"], group["momentum_decay"]
        d = self._decayed_grad(p, g, group)
        state["step"] = t = state["step"] + 1
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] = product = _scalar_product(state["mu_product"], mu)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, d, 1 - beta1, np.empty_like(p))
        v *= beta2
        v += (1 - beta2) * d * d
        denom = np.sqrt(v / (1 - beta2 ** t)) + group["eps"]
        p += d / denom * (-lr * (1.0 - mu) / (1.0 - product))
        p += m / denom * (-lr * mu_next / (1.0 - product * mu_next))


def _scalar_product(a, b):
    """a·b as PyTorch keeps NAdam's Π: a scalar tensor of the default dtype (float32 rounding shows
    in float64 runs unless float64 is the default)."""
    if get_default_dtype() == np.float64:
        return a * b
    return float(np.float32(a) * np.float32(b))


class RAdam(AdamFamily):
    """Adam whose adaptive step is used only once the variance of v is tractable (ρₜ > 5), scaled by
    the rectification r; before that, momentum SGD: p -= lr m̂ (· r √(1-β2ᵗ)/(√v + eps) when ρₜ > 5)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _init_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}

    def _update(self, p, g, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        d = self._decayed_grad(p, g, group)
        state["step"] = t = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, d, 1 - beta1, np.empty_like(p))
        v *= beta2
        v += (1 - beta2) * d * d
        corrected = m / (1 - beta1 ** t)
        bc2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / bc2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            p -= corrected * lr * (bc2 ** 0.5 / (np.sqrt(v) + group["eps"])) * rect
        else:
            p -= corrected * lr
