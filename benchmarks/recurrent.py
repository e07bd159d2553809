"""Recurrent training step: forward over T + loss + backward + SGD step, side by side in one run.

Columns: our fused layer, our unrolled layer, PyTorch's fused layer (nn.LSTM/GRU/RNN), PyTorch's
LSTMCell in a Python loop, and the fused step's arithmetic rate against the NumPy GEMM peak measured
in the same run. The step's matrix products: forward 2·T·B·(I+H)·G·H flops, backward the weight
gradients as much again plus the state gradients 2·T·B·H·G·H; the data x needs no gradient, so
neither library computes dx = D W_ih: 2·T·B·(2I+3H)·G·H flops in all.
"""
import numpy as np

from .common import (block_medians, fmt, mse_training_step, optional_torch, record, sgd_training_step, table,
                     with_settings)

CONFIGS = {
    "a": dict(mode="LSTM", B=1, I=65, H=128, T=100),
    "b": dict(mode="LSTM", B=32, I=64, H=128, T=100),
    "c": dict(mode="LSTM", B=64, I=256, H=512, T=50),
    "d": dict(mode="LSTM", B=32, I=32, H=32, T=200),
    "b-GRU": dict(mode="GRU", B=32, I=64, H=128, T=100),
    "b-RNN": dict(mode="RNN", B=32, I=64, H=128, T=100),
}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def ours(cfg, impl):
    from tinygrad_rnn import nn
    return sgd_training_step(lambda: getattr(nn, cfg["mode"])(cfg["I"], cfg["H"], impl=impl), cfg)


def torch_layer(cfg):
    import torch
    torch.manual_seed(0)
    layer = getattr(torch.nn, cfg["mode"])(cfg["I"], cfg["H"])
    opt = torch.optim.SGD(layer.parameters(), lr=1e-3)
    x = torch.randn(cfg["T"], cfg["B"], cfg["I"])
    target = torch.randn(cfg["T"], cfg["B"], cfg["H"])
    return mse_training_step(layer, opt, x, target)


def torch_cell_loop(cfg):
    import torch
    torch.manual_seed(0)
    cell = {"LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell, "RNN": torch.nn.RNNCell}[cfg["mode"]](cfg["I"], cfg["H"])
    opt = torch.optim.SGD(cell.parameters(), lr=1e-3)
    x = torch.randn(cfg["T"], cfg["B"], cfg["I"])
    target = torch.randn(cfg["T"], cfg["B"], cfg["H"])

    def sequence(x):
        h = torch.zeros(cfg["B"], cfg["H"])
        state = (h, torch.zeros_like(h)) if cfg["mode"] == "LSTM" else h
        outs = []
        for t in range(cfg["T"]):
            state = cell(x[t], state)
            outs.append(state[0] if cfg["mode"] == "LSTM" else state)
        return torch.stack(outs), state
    return mse_training_step(sequence, opt, x, target)


def gemm_peak(n=2048, repeats=5):
    """GFLOP/s of a float32 n×n×n NumPy (BLAS) product, best of a few."""
    import time
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.copy()
    a @ b
    best = min(_timed(lambda: a @ b, time) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn, time):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_flops(cfg):
    G = GATES[cfg["mode"]]
    return 2 * cfg["T"] * cfg["B"] * (2 * cfg["I"] + 3 * cfg["H"]) * G * cfg["H"]


def main(quick=False, save=True):
    have_torch = optional_torch(threads=2) is not None
    peak = gemm_peak()
    names = ["a", "b"] if quick else list(CONFIGS)
    rows = []
    for name in names:
        cfg = CONFIGS[name]
        fns = {"fused": ours(cfg, "fused"), "unrolled": ours(cfg, "unrolled")}
        if have_torch:
            fns["torch"] = torch_layer(cfg)
            fns["torch cell loop"] = torch_cell_loop(cfg)
        repeats = 5 if quick else (15 if name == "c" else 30)
        med = block_medians(fns, repeats)
        ms = {k: v * 1e3 for k, v in med.items()}
        rate = step_flops(cfg) / med["fused"] / 1e9
        torch_ms, loop_ms = ms.get("torch"), ms.get("torch cell loop")
        rows.append([f"{name} {cfg['mode']} B={cfg['B']} I={cfg['I']} H={cfg['H']} T={cfg['T']}",
                     fmt(ms["fused"]), fmt(ms["unrolled"]), fmt(torch_ms), fmt(loop_ms),
                     fmt(ms["fused"] / torch_ms, 2) if torch_ms else "–",
                     fmt(ms["unrolled"] / loop_ms, 2) if loop_ms else "–",
                     f"{rate:.0f} ({100 * rate / peak:.0f}%)"])
    headers = ["config", "fused ms", "unrolled ms", "PyTorch layer ms", "PyTorch cell loop ms",
               "fused / PyTorch layer", "unrolled / cell loop", "fused GFLOP/s (% of GEMM peak)"]
    record(f"Recurrent training step (float32, 2 threads, median; GEMM peak {peak:.0f} GFLOP/s)",
           table(headers, rows), save)
    if not quick:
        transposed_products(save)
        small_kernel_products(save)
        short_sequences(save)


WIDE = {"c": CONFIGS["c"], "H256 B16": dict(mode="LSTM", B=16, I=64, H=256, T=64),
        "H256 B32": dict(mode="LSTM", B=32, I=64, H=256, T=64), "GRU H512": dict(mode="GRU", B=32, I=128, H=512, T=50)}
SMALL_KERNEL = {"b": CONFIGS["b"], "B64": dict(mode="LSTM", B=64, I=64, H=128, T=100),
                "GRU B64": dict(mode="GRU", B=64, I=64, H=128, T=100)}
SHORT = {"word LM": dict(mode="LSTM", B=10, I=32, H=32, T=10), "T20 B16": dict(mode="LSTM", B=16, I=32, H=32, T=20),
         "T35 B10": dict(mode="LSTM", B=10, I=32, H=32, T=35), "T10 B64": dict(mode="LSTM", B=64, I=32, H=32, T=10),
         "d": CONFIGS["d"]}


def _against_setting(configs, off, labels, title, save, module=None):
    """Training steps of configs with a setting of module (compiler.sequence unless given) as shipped
    and with it off (off: the attributes with_settings gives it), same kernels (the choices are
    made per call)."""
    from tinygrad_rnn.compiler import sequence
    rows = []
    for name, cfg in configs.items():
        step = ours(cfg, "fused")
        med = block_medians({"off": with_settings(module or sequence, step, **off), "shipped": step}, 12, rounds=6)
        rows.append([f"{name} {cfg['mode']} B={cfg['B']} I={cfg['I']} H={cfg['H']} T={cfg['T']}",
                     fmt(med["off"] * 1e3), fmt(med["shipped"] * 1e3), fmt(med["shipped"] / med["off"], 3)])
    record(title, table(["config", *labels, "ratio"], rows), save)


def transposed_products(save=True):
    """The forward kernels' per-step products a W run as (Wᵀ aᵀ)ᵀ from W of
    compiler.sequence.TRANSPOSED_PRODUCT_BYTES on (as shipped) against always as a W, in layers wide
    enough to reach that size."""
    from tinygrad_rnn.compiler import sequence
    _against_setting(WIDE, dict(TRANSPOSED_PRODUCT_BYTES=1 << 62),
                     ["a W always", f"(Wᵀ aᵀ)ᵀ from {sequence.TRANSPOSED_PRODUCT_BYTES >> 20} MiB"],
                     "Per-step products of large W as (Wᵀ aᵀ)ᵀ: training step ms (float32, 2 threads, median)", save)


def small_kernel_products(save=True):
    """The forward kernels' per-step products in calls of a few rows (kernels.matrices.step_product_rows,
    as shipped) against one call each, in layers whose products pass OpenBLAS's small-kernel size."""
    from tinygrad_rnn.kernels.matrices import SMALL_PRODUCT, small_kernel_blas
    _against_setting(SMALL_KERNEL, dict(step_product_rows=lambda batch, inner, outer, dtype: max(batch, 1)),
                     ["one call", "in calls of rows"],
                     f"Per-step products above {SMALL_PRODUCT:,} multiply-adds in calls of 8 rows (small-kernel BLAS: "
                     f"{small_kernel_blas()}): training step ms (float32, 2 threads, median)", save)


def short_sequences(save=True):
    """A batch runs whole when its sequence's per-step products stay under blas_threads.MIN_SPLIT_WORK
    multiply-adds (as shipped) against split into row parts whenever the thread policy allows."""
    from tinygrad_rnn import blas_threads
    _against_setting(SHORT, dict(MIN_SPLIT_WORK=0),
                     ["split always", f"whole below {blas_threads.MIN_SPLIT_WORK:.0e} multiply-adds"],
                     "Short sequences run whole: training step ms (float32, 2 threads, median)", save,
                     module=blas_threads)


if __name__ == "__main__":
    main()
