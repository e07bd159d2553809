"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
from .optimizer import Optimizer, grad_term


class SGD(Optimizer):
    """d = ±g + wd p;  b = μ b + (1 - dampening) d (b = d at first);  p -= lr (d + μ b if nesterov else b).

    Without momentum (μ = 0): p -= lr d.
    """

    _nonnegative = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _validate(self, options):
        super()._validate(options)
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("SGD: nesterov=True requires momentum > 0 and dampening == 0, got "
                             f"momentum={options['momentum']!r}, dampening={options['dampening']!r}")

    def _update(self, p, g, state, group):
        d = grad_term(p, g, group["weight_decay"], group["maximize"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                dampening = group["dampening"]
                buf += d if dampening == 0 else (1 - dampening) * d
            d = d + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * d
