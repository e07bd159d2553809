"""Timing helpers shared by the benchmarks: alternating blocks, tables, and RESULTS.md records."""
import datetime
import os
import platform
import statistics
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def block_medians(fns, repeats, warmup=2, rounds=3, pause=0.5, settle=0.2):
    """Median seconds per call of each fn: every fn runs `repeats` times in all, in `rounds` blocks
    that alternate between the fns (in rotated order), with a pause before each block.

    Blocks, not call-by-call turns: OpenBLAS's and PyTorch's thread pools keep spinning for a while
    after their last call, and a library called right after another runs beside those spinning
    threads (measured here: the hand-written LSTM at config b took 99 ms per step called in turns
    with PyTorch, 26 ms alone). Alternating blocks still spread slow drifts of the machine over all.

    Each block first calls its fn, untimed, for `settle` seconds (once at least): after a pause the
    2-vCPU hosts run a second thread alongside the first only once both have been busy for ~50 ms
    (measured on the AVX-512 Xeon: two threads' share of a nogil loop ran one after the other for
    the first 57 ms after a 0.5 s sleep, then side by side; our LSTM step at config d took 6.7 ms
    for its first 8 calls and 4.1 ms after), so that timing the block's first calls measures the
    host waking, not the library.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    per_block = max(1, -(-repeats // rounds))
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = fns[name]
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            while time.perf_counter() - start < settle:
                fn()
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def with_settings(module, fn, **settings):
    """fn, run with module's attributes set to settings and restored after (a policy's variants)."""
    def run():
        before = {k: getattr(module, k) for k in settings}
        for k, v in settings.items():
            setattr(module, k, v)
        try:
            return fn()
        finally:
            for k, v in before.items():
                setattr(module, k, v)
    return run


def optional_torch(threads=None):
    """PyTorch (set to `threads` threads when given), or None with a note that its columns stay empty."""
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: its columns are left empty")
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    return torch


def mse_training_step(layer, opt, x, target):
    """One step: forward over T, MSE loss, backward, optimizer step; the same code drives our layers
    and PyTorch's (layer(x) -> (output, state))."""
    def step():
        opt.zero_grad()
        out, _ = layer(x)
        loss = ((out - target) ** 2).mean()
        loss.backward()
        opt.step()
    return step


def sgd_training_step(make_layer, cfg):
    """mse_training_step of our layer make_layer() (built after tg.manual_seed(0)) with SGD at lr 1e-3,
    on fixed float32 data: x (T, B, I) -> target (T, B, H) of cfg's sizes."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import optim

    tg.manual_seed(0)
    layer = make_layer()
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((cfg["T"], cfg["B"], cfg["I"])).astype(np.float32))
    target = tg.tensor(rng.standard_normal((cfg["T"], cfg["B"], cfg["H"])).astype(np.float32))
    return mse_training_step(layer, optim.SGD(layer.parameters(), lr=1e-3), x, target)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numba
    versions = f"numpy {np.__version__}, numba {numba.__version__}"
    try:
        import torch
        versions += f", torch {torch.__version__}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}, {blas_kernels()}"


def blas_kernels():
    """The kernels each loaded OpenBLAS runs, and OPENBLAS_CORETYPE if set: on one CPU they can differ
    in speed by 2x (RESULTS.md, the reading of the sixth set)."""
    from threadpoolctl import threadpool_info
    kinds = sorted({f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info()
                    if i["user_api"] == "blas"})
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return "BLAS " + " / ".join(kinds) + (f" (OPENBLAS_CORETYPE={forced})" if forced is not None else "")


def table(headers, rows):
    """A Markdown table (it reads fine in a terminal too)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def record(title, text, save=True):
    """Print a result table and append it, dated and with the machine, to RESULTS.md."""
    print(f"\n## {title}\n\n{text}\n")
    if save:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        with open(RESULTS, "a") as f:
            f.write(f"\n## {title} — {stamp}\n\nMachine: {machine()}\n\n{text}\n")


def fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}g}"
