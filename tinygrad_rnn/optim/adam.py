"""Adam (Kingma & Ba) with optional AMSGrad, and AdamW (decoupled weight decay, Loshchilov & Hutter)."""
import numpy as np

from .optimizer import Optimizer, check_betas, grad_term, lerp_


class AdamFamily(Optimizer):
    """What Adam and its variants share: betas checked as a pair in [0, 1), and the decayed gradient."""

    _nonnegative = ("lr", "eps", "weight_decay")

    def _validate(self, options):
        super()._validate(options)
        check_betas(options["betas"], type(self).__name__)

    def _decayed_grad(self, p, g, group):
        """±g (+ wd p, or with decoupled_weight_decay p *= 1 - lr wd first)."""
        decoupled, wd = group.get("decoupled_weight_decay", False), group["weight_decay"]
        if decoupled and wd:
            p *= 1 - group["lr"] * wd
        return grad_term(p, g, 0 if decoupled else wd, group["maximize"])


class Adam(AdamFamily):
    """m = β1 m + (1-β1) d;  v = β2 v + (1-β2) d²;  p -= lr/(1-β1ᵗ) · m / (√v̂/√(1-β2ᵗ) + eps).

    d = ±g + wd p, or with decoupled_weight_decay p *= 1 - lr wd first and d = ±g; amsgrad uses
    v̂ = running max of v (else v̂ = v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _init_state(self, p, group):
        state = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state

    def _update(self, p, g, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        d = self._decayed_grad(p, g, group)
        state["step"] = t = state["step"] + 1
        m, v, tmp = state["exp_avg"], state["exp_avg_sq"], np.empty_like(p)
        lerp_(m, d, 1 - beta1, tmp)
        v *= beta2
        np.multiply(d, 1 - beta2, out=tmp)
        tmp *= d
        v += tmp
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        np.sqrt(v, out=tmp)
        tmp /= (1 - beta2 ** t) ** 0.5
        tmp += group["eps"]
        np.divide(m, tmp, out=tmp)
        tmp *= -lr / (1 - beta1 ** t)
        p += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr wd, then the Adam step on ±g."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
