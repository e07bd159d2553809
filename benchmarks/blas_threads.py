"""The BLAS thread policy (tinygrad_rnn/blas_threads.py) against its alternatives, training steps.

Columns, each the same step: "policy" as shipped (SciPy's BLAS, the kernels', on one thread while a
sequence kernel runs when its per-step product is small; NumPy's keeps its threads), "both pools"
(the same rule, limiting NumPy's BLAS too), "threads kept" (no limit: both pools at their default),
and "one thread" (every BLAS on one thread, the command line's choice). Rows: the hand-written LSTM kernel (nn.LSTM), the kernel generated from LSTMCell and
from LayerNormLSTMCell (nn.Recurrent), at configs b, c and d of the recurrent benchmark.
"""
import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

from .common import block_medians, fmt, mse_training_step, record, table
from .custom_cell import builtin_cell_step
from .recurrent import CONFIGS


def _layer(kind, cfg):
    from tinygrad_rnn import nn
    I, H = cfg["I"], cfg["H"]
    if kind == "hand-written LSTM":
        return nn.LSTM(I, H)
    if kind == "generated LSTM":
        return nn.Recurrent(builtin_cell_step("LSTM", I, H))
    return nn.Recurrent(nn.LayerNormLSTMCell(I, H))


def _step(kind, cfg):
    import tinygrad_rnn as tg
    from tinygrad_rnn import optim

    tg.manual_seed(0)
    layer = _layer(kind, cfg)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((cfg["T"], cfg["B"], cfg["I"])).astype(np.float32))
    target = tg.tensor(rng.standard_normal((cfg["T"], cfg["B"], cfg["H"])).astype(np.float32))
    return mse_training_step(layer, optim.SGD(layer.parameters(), lr=1e-3), x, target)


def _variants(step):
    from tinygrad_rnn import blas_threads

    def threads_kept():
        small, blas_threads.SMALL_STEP = blas_threads.SMALL_STEP, 0
        try:
            step()
        finally:
            blas_threads.SMALL_STEP = small

    def both_pools():
        every_blas = ThreadpoolController().select(user_api="blas").lib_controllers
        ours, blas_threads._kernel_blas = blas_threads._kernel_blas, every_blas
        try:
            step()
        finally:
            blas_threads._kernel_blas = ours

    def one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            step()
    return {"policy": step, "both pools": both_pools, "threads kept": threads_kept, "one thread": one_thread}


def main(quick=False, save=True):
    import scipy.linalg.cython_blas  # noqa: F401  (numba's BLAS: loaded, so that it can be limited)

    rows = []
    for name in ["b"] if quick else ["b", "c", "d"]:
        cfg = CONFIGS[name]
        for kind in ("hand-written LSTM", "generated LSTM", "LayerNormLSTM"):
            ms = {k: v * 1e3 for k, v in block_medians(_variants(_step(kind, cfg)), 6 if quick else 24,
                                                        rounds=3 if quick else 6).items()}
            rows.append([f"{name} B={cfg['B']} I={cfg['I']} H={cfg['H']} T={cfg['T']}", kind,
                         *(fmt(ms[k]) for k in ms), fmt(ms["policy"] / ms["threads kept"], 2),
                         fmt(ms["policy"] / ms["one thread"], 2)])
    record("BLAS thread policy: training step ms (float32, 2 cores, median of alternating blocks)",
           table(["config", "layer", "policy", "both pools", "threads kept", "one thread", "policy / kept",
                  "policy / one"], rows),
           save)


if __name__ == "__main__":
    main()
