"""The BLAS thread policy (tinygrad_rnn/blas_threads.py) against its alternatives, training steps.

Columns, each the same step: "policy" as shipped (a batch whose per-step product is below
SPLIT_STEP, in a sequence long enough for MIN_SPLIT_WORK, runs in row parts side by side, one thread and one SciPy-BLAS thread each; a whole batch
gets SciPy's BLAS, the kernels', on one thread when its per-step product is small; NumPy's keeps its
threads), "whole batch" (no row parts, the rest as shipped), "both pools" (the policy, limiting
NumPy's BLAS too), "threads kept" (no parts, no limit: both pools at their default), and "one
thread" (every BLAS on one thread, the command line's choice). Rows: nn.LSTM and
nn.Recurrent(LayerNormLSTMCell) (both compiled from their steps), at configs b, c and d of the
recurrent benchmark.
"""
from threadpoolctl import ThreadpoolController, threadpool_limits

from .common import block_medians, fmt, record, sgd_training_step, table, with_settings
from .recurrent import CONFIGS


def _layer(kind, cfg):
    from tinygrad_rnn import nn
    I, H = cfg["I"], cfg["H"]
    if kind == "LSTM":
        return nn.LSTM(I, H)
    return nn.Recurrent(nn.LayerNormLSTMCell(I, H))


def _step(kind, cfg):
    return sgd_training_step(lambda: _layer(kind, cfg), cfg)


def _variants(step):
    from tinygrad_rnn import blas_threads

    def both_pools():
        pool = blas_threads._kernel_pool
        with blas_threads._lock:
            pool.pools()  # finds the kernels' pool
        ours, pool.libs = pool.libs, ThreadpoolController().select(user_api="blas").lib_controllers
        try:
            step()
        finally:
            pool.libs = ours

    def one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            step()
    return {"policy": step, "whole batch": with_settings(blas_threads, step, SPLIT_STEP=0),
            "both pools": both_pools, "threads kept": with_settings(blas_threads, step, SMALL_STEP=0, SPLIT_STEP=0),
            "one thread": one_thread}


def main(quick=False, save=True):
    import scipy.linalg.cython_blas  # noqa: F401  (numba's BLAS: loaded, so that it can be limited)

    rows = []
    for name in ["b"] if quick else ["b", "c", "d"]:
        cfg = CONFIGS[name]
        for kind in ("LSTM", "LayerNormLSTM"):
            ms = {k: v * 1e3 for k, v in block_medians(_variants(_step(kind, cfg)), 6 if quick else 24,
                                                        rounds=3 if quick else 6).items()}
            rows.append([f"{name} B={cfg['B']} I={cfg['I']} H={cfg['H']} T={cfg['T']}", kind,
                         *(fmt(ms[k]) for k in ms), fmt(ms["policy"] / ms["whole batch"], 2),
                         fmt(ms["policy"] / ms["one thread"], 2)])
    record("BLAS thread policy: training step ms (float32, 2 cores, median of alternating blocks)",
           table(["config", "layer", "policy", "whole batch", "both pools", "threads kept", "one thread",
                  "policy / whole", "policy / one"], rows),
           save)


if __name__ == "__main__":
    main()
