"""CTC loss forward + backward, ours against torch.nn.functional.ctc_loss on the CPU, in one run.

Both take the same float32 log-probabilities (a leaf, so no log_softmax is timed), full-length inputs
and random targets without the blank, reduction='mean'. Our kernels run on one thread; PyTorch's
CPU kernel splits the batch over its intra-op threads, so it is timed with 1 and with 2 threads.
"""
import numpy as np

from .common import block_medians, fmt, optional_torch, record, table

CONFIGS = [dict(T=100, N=32, C=20, S=30), dict(T=500, N=16, C=60, S=100)]


def _problem(cfg):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((cfg["T"], cfg["N"], cfg["C"])).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = rng.integers(1, cfg["C"], (cfg["N"], cfg["S"]))
    return log_probs, targets, np.full(cfg["N"], cfg["T"]), np.full(cfg["N"], cfg["S"])


def ours(cfg):
    import tinygrad_rnn as tg
    log_probs, targets, input_lengths, target_lengths = _problem(cfg)
    x = tg.tensor(log_probs, requires_grad=True)

    def step():
        x.grad = None
        tg.nn.functional.ctc_loss(x, targets, input_lengths, target_lengths).backward()
    return step


def theirs(cfg, threads):
    import torch
    x, targets, input_lengths, target_lengths = (torch.from_numpy(a) for a in _problem(cfg))
    x.requires_grad_(True)

    def step():
        torch.set_num_threads(threads)
        x.grad = None
        torch.nn.functional.ctc_loss(x, targets, input_lengths, target_lengths).backward()
    return step


def main(quick=False, save=True):
    have_torch = optional_torch() is not None
    rows = []
    for cfg in CONFIGS[:1] if quick else CONFIGS:
        fns = {"ours": ours(cfg)}
        if have_torch:
            fns["torch 1"] = theirs(cfg, 1)
            fns["torch 2"] = theirs(cfg, 2)
        ms = {k: v * 1e3 for k, v in block_medians(fns, 5 if quick else 20).items()}
        t1, t2 = ms.get("torch 1"), ms.get("torch 2")
        rows.append([f"T={cfg['T']} N={cfg['N']} C={cfg['C']} S={cfg['S']}", fmt(ms["ours"]), fmt(t1), fmt(t2),
                     fmt(ms["ours"] / t1, 2) if t1 else "–", fmt(ms["ours"] / t2, 2) if t2 else "–"])
    headers = ["config", "ours ms", "PyTorch 1 thread ms", "PyTorch 2 threads ms", "ours / PyTorch 1",
               "ours / PyTorch 2"]
    record("CTC loss forward+backward (float32, median, ours on 1 thread)", table(headers, rows), save)


if __name__ == "__main__":
    main()
