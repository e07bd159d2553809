"""Engine overhead: µs per op for a chain of tiny ops, forward + backward, side by side.

A chain of N ops on a 4-element tensor (mul, add, tanh in turn) is all bookkeeping and no
arithmetic, so its time per op is what the autograd engine itself costs.
"""
import numpy as np

from .common import block_medians, record, table, fmt

N_OPS = 1000


def ours(n_ops, grad=True):
    import tinygrad_rnn as tg

    x = tg.tensor(np.linspace(0.1, 0.4, 4), requires_grad=True)

    def run():
        with tg.autograd._GradMode(grad):
            y = x
            for i in range(n_ops // 3):
                y = (y * 0.9 + 0.1).tanh()
            out = y.sum()
            if grad:
                out.backward()
                x.grad = None
    return run


def torch_eager(n_ops):
    import torch
    torch.set_num_threads(1)
    x = torch.tensor(np.linspace(0.1, 0.4, 4), dtype=torch.float32, requires_grad=True)

    def run():
        y = x
        for i in range(n_ops // 3):
            y = (y * 0.9 + 0.1).tanh()
        y.sum().backward()
        x.grad = None
    return run


def hips_autograd(n_ops):
    import autograd
    import autograd.numpy as anp

    def f(x):
        y = x
        for i in range(n_ops // 3):
            y = anp.tanh(y * 0.9 + 0.1)
        return anp.sum(y)
    g = autograd.grad(f)
    x0 = np.linspace(0.1, 0.4, 4)
    return lambda: g(x0)


def main(quick=False, save=True):
    repeats = 5 if quick else 30
    fns = {"tinygrad_rnn fwd+bwd": ours(N_OPS), "tinygrad_rnn fwd only (no_grad)": ours(N_OPS, grad=False)}
    for name, make in (("PyTorch eager fwd+bwd", torch_eager), ("HIPS autograd fwd+bwd", hips_autograd)):
        try:
            fns[name] = make(N_OPS)
        except ImportError:
            print(f"{name}: not installed, skipped")
    med = block_medians(fns, repeats)
    n = (N_OPS // 3) * 3 + 1
    base = med.get("PyTorch eager fwd+bwd")
    rows = [[name, fmt(t / n * 1e6), fmt(t / base) if base else "–"] for name, t in med.items()]
    record(f"Engine overhead: chain of {n} tiny ops (4 elements), µs per op, median of {repeats}",
           table(["engine", "µs per op", "× PyTorch eager"], rows), save)
    return med


if __name__ == "__main__":
    main()
