"""Gauss-Newton-vector products, the inner loop of Hessian-free optimisation (notebook 13).

The model is notebook 13's tanh RNN (a loop of matmul, add, tanh; readout at the last step; MSE), with
the hidden states of every step as extra outputs for structural damping. Ours: `curvature.GaussNewton`
built once on the recorded graph, then J v by forward tangents ("tangent") or by double backward, the
loss Hessian, and Jᵀ(·) by one backward pass. PyTorch: `torch.func.jvp`, the loss Hessian by jvp of
`torch.func.grad`, and `torch.func.vjp`, in eager mode (each call re-runs the forward, as that idiom
does). float64, one thread each (run with OPENBLAS_NUM_THREADS=1; torch is set to one thread: its
spinning second thread made it 10x slower on this shared 2-core machine), ms per product, interleaved
medians.
"""
import math

import numpy as np

from .common import fmt, block_medians, record, table

CONFIGS = [(20, 200, 16), (50, 200, 16), (50, 100, 100)]


def _ours(T, B, H, mode):
    import tinygrad_rnn as tg
    from tinygrad_rnn import curvature
    from tinygrad_rnn.nn import functional as F

    rng = np.random.default_rng(0)
    w_ih = tg.tensor(rng.normal(0, 1 / math.sqrt(2), (2, H)), requires_grad=True)
    w_hh = tg.tensor(rng.normal(0, 1 / math.sqrt(H), (H, H)), requires_grad=True)
    b = tg.tensor(np.zeros(H), requires_grad=True)
    w_out = tg.tensor(rng.normal(0, 0.1, (H, 1)), requires_grad=True)
    params = [w_ih, w_hh, b, w_out]
    x, y = rng.random((T, B, 2)), tg.tensor(rng.random((B, 1)))
    h, hs = None, []
    for x_t in x:
        a = tg.tensor(x_t) @ w_ih + b
        h = (a if h is None else a + h @ w_hh).tanh()
        hs.append(h)
    def loss(z, *s):
        return F.mse_loss(z, y) + sum((q * q).mean() for q in s)

    gn = curvature.GaussNewton((h @ w_out, *hs), params, loss, mode=mode)
    v = [rng.standard_normal(p.shape) for p in params]
    return lambda: gn(v)


def _torch(T, B, H):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    params = (torch.tensor(rng.normal(0, 1 / math.sqrt(2), (2, H))),
              torch.tensor(rng.normal(0, 1 / math.sqrt(H), (H, H))),
              torch.zeros(H, dtype=torch.float64), torch.tensor(rng.normal(0, 0.1, (H, 1))))
    x, y = torch.tensor(rng.random((T, B, 2))), torch.tensor(rng.random((B, 1)))
    v = tuple(torch.tensor(rng.standard_normal(p.shape)) for p in params)

    def net(*ps):
        w_ih, w_hh, b, w_out = ps
        h, hs = None, []
        for x_t in x:
            a = x_t @ w_ih + b
            h = torch.tanh(a if h is None else a + h @ w_hh)
            hs.append(h)
        return (h @ w_out, *hs)

    def loss(z, *s):
        return ((z - y) ** 2).mean() + sum((q * q).mean() for q in s)

    def product():
        outs, jv = torch.func.jvp(net, params, v)
        _, hjv = torch.func.jvp(torch.func.grad(loss, argnums=tuple(range(len(outs)))), outs, jv)
        _, pull = torch.func.vjp(net, *params)
        return pull(hjv)

    return product


def main(quick=False, save=True):
    rows = []
    for T, B, H in CONFIGS[:1] if quick else CONFIGS:
        fns = {"tangent": _ours(T, B, H, "forward"), "double_backward": _ours(T, B, H, "double_backward")}
        theirs = _torch(T, B, H)
        if theirs is not None:
            fns["torch"] = theirs
        med = block_medians(fns, repeats=3 if quick else 10)
        ms = {k: 1000 * t for k, t in med.items()}
        torch_ms = ms.get("torch")
        rows.append([f"T={T} B={B} H={H}", fmt(ms["tangent"]), fmt(ms["double_backward"]), fmt(torch_ms),
                     fmt(ms["tangent"] / torch_ms if torch_ms else None),
                     fmt(ms["double_backward"] / ms["tangent"])])
    record("Gauss-Newton-vector product, tanh RNN with structural-damping outputs (float64, median ms)",
           table(["config", "ours, tangent J v", "ours, double-backward J v", "torch.func jvp+vjp", "tangent / torch",
                  "double-backward / tangent"], rows), save=save)


if __name__ == "__main__":
    main()
