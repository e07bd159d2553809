"""Timing helpers shared by the benchmarks: interleaved medians, tables, and RESULTS.md records."""
import datetime
import os
import platform
import statistics
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def interleaved_medians(fns, repeats, warmup=2):
    """Median seconds per call of each fn, running them in turn so machine noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


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
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}"


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
