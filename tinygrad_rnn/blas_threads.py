"""The library's one BLAS thread policy: how many threads the matrix products of a recurrent kernel get.

Two OpenBLAS builds are loaded in a process that uses this library: NumPy's (products called from
Python) and SciPy's, which numba's ``np.dot`` calls inside the kernels. Each keeps its own pool of
worker threads, and an idle worker spins for a while before it sleeps: with both pools awake on two
cores, a kernel runs beside spinning threads (benchmarks/RESULTS.md, "BLAS thread policy", has the
measurements). So every product of a recurrent layer, per-step or not, runs in numba (the kernels
and kernels.matrices), in SciPy's pool alone.

The policy:
- ``sequence_kernel(batch, width)``: while a recurrent layer's kernels run, SciPy's BLAS uses one
  thread if the per-step product is small (batch * width below ``SMALL_STEP``, width being the
  product's inner size times its output size), where a second thread gains little and its spinning
  costs more. NumPy's BLAS is left alone. The limit is process-wide, so threads
  share it: the first in sets it, the last out restores it. (OpenBLAS 0.3.31 ignores a count set
  from another thread once the main thread has set one, so the limit is surest from the main thread.)
- ``row_parts(batch, width, steps)`` and ``run_parts``: the rows of a batch are independent
  sequences, so a layer's kernels run on row ranges side by side, one Python thread each (the
  kernels release the GIL), with SciPy's BLAS on one thread in each: as many parts as that BLAS has
  threads and the process has cores, at least ``MIN_ROWS`` rows each, when batch * width is below
  ``SPLIT_STEP`` and steps * batch * width reaches ``MIN_SPLIT_WORK``. Below that a sequence is too
  short to pay for handing a part to a second thread: that cost ~0.3 ms per forward or backward
  on these 2-vCPU hosts, about a small layer's whole kernel time.
  Nothing waits between steps, where threading inside the per-step product or the element-wise
  loops would synchronise at every step. Above SPLIT_STEP the per-step product keeps the BLAS
  threads busy by itself, and two parts would compete for memory bandwidth instead. The products
  after the time loop (weight gradients) run in each part's thread, or, for a lone part whose
  kernel ran on one thread, after that limit, on all the BLAS's threads.
- ``tracing()``: while the compiler traces a cell's step (a batch of two), NumPy's BLAS uses one
  thread: a product that small gains nothing from a second one, and waking NumPy's pool there left
  its workers spinning beside every kernel of the sequence that followed.
- ``one_thread_everywhere()``: the command line's choice for its small training runs, unless the
  user set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.
"""
import concurrent.futures
import contextlib
import os
import threading

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

SMALL_STEP = 1 << 18  # batch * inner * outer of the per-step product below which one thread is used
MIN_ROWS = 2  # rows of a batch part, at least
SPLIT_STEP = 1 << 23  # batch * inner * outer of the per-step product from which a batch runs whole
MIN_SPLIT_WORK = 4 * 10 ** 6  # multiply-adds of a sequence's per-step products below which it runs whole

_lock = threading.Lock()


def _load_scipy_blas():
    """SciPy's BLAS is what numba's np.dot calls; it must be loaded before its threads can be limited."""
    import scipy.linalg.cython_blas  # noqa: F401


def _blas_pools():
    """(SciPy's OpenBLAS, NumPy's), told apart by the folder each was loaded from; (every BLAS, none)
    when the two cannot be told apart (a build where both link one shared library)."""
    _load_scipy_blas()
    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    scipy_own = [lib for lib in blas if os.path.basename(os.path.dirname(lib.filepath)).startswith("scipy")]
    return (scipy_own, [lib for lib in blas if lib not in scipy_own]) if scipy_own else (blas, [])


def kernels_blas():
    """SciPy's OpenBLAS (the kernels'), as _blas_pools tells it apart."""
    return _blas_pools()[0]


class _OneThread:
    """One thread for some BLAS pools while anyone is inside: the limit is process-wide, so threads
    share it; the first in sets it, the last out restores it."""

    def __init__(self, which):
        self.which, self.libs, self.users, self.restore = which, None, 0, []

    def pools(self):
        """The thread controllers of these pools (found on first use); call holding _lock."""
        if self.libs is None:
            self.libs = _blas_pools()[self.which]
        return self.libs

    @contextlib.contextmanager
    def __call__(self):
        with _lock:
            if self.users == 0:
                self.restore = [(lib, lib.num_threads) for lib in self.pools()]
                for lib in self.libs:
                    lib.set_num_threads(1)
            self.users += 1
        try:
            yield
        finally:
            with _lock:
                self.users -= 1
                if self.users == 0:
                    for lib, n in self.restore:
                        lib.set_num_threads(n)


_kernel_pool, _numpy_pool = _OneThread(0), _OneThread(1)


@contextlib.contextmanager
def sequence_kernel(batch, width):
    """One SciPy-BLAS thread while a sequence kernel runs, when batch * width < SMALL_STEP."""
    if batch * width >= SMALL_STEP:
        yield
        return
    with _kernel_pool():
        yield


_workers, _worker_count = None, 0


def _after_fork_in_child():
    """A forked child has none of its parent's threads: a new pool of workers (the old one would
    queue parts for threads that do not exist) and fresh locks (one may have been held at the fork)."""
    global _workers, _worker_count, _lock
    _workers, _worker_count, _lock = None, 0, threading.Lock()
    _kernel_pool.users = _numpy_pool.users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def row_parts(batch, width, steps):
    """Row ranges (slices) of a batch to run side by side: one per thread of the kernels' BLAS (and
    core), or the whole batch when batch * width (the per-step product's size) reaches SPLIT_STEP or
    the sequence's per-step products, steps * batch * width multiply-adds, stay under MIN_SPLIT_WORK.
    (width: the widest per-step product's inner times outer size). Measured on Zen 4 (LSTM training
    steps, whole batch against parts, alternating blocks): 0.46-0.65 of the time at 4·10⁵-1.6·10⁶
    (T=10 B=10 H=32 as in PyTorch's word language model example: 0.47-0.52); between 2.6·10⁶ and
    6.6·10⁶ either wins by run (0.67-1.2); from 10⁷ parts win, 1.01-1.49."""
    if batch * width >= SPLIT_STEP or steps * batch * width < MIN_SPLIT_WORK:
        return [slice(0, batch)]
    with _lock:
        pools = _kernel_pool.pools()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = min([lib.num_threads for lib in pools] + [cores])
    n = max(1, min(threads, batch // MIN_ROWS))
    bounds = [batch * k // n for k in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def run_parts(parts, width, fn, *per_part, then=None):
    """[then(fn(rows, *its items of per_part)) for rows in parts]: side by side, each part's BLAS on
    one thread, when there are several parts; else the one call of fn under sequence_kernel's
    policy, and then() after it on all the BLAS's threads. ``then`` holds the products after the
    time loop (the weight gradients), large enough for every thread: at a batch of one (LSTM, H=128,
    T=100) they took 222 µs on one thread and 124 µs on two, and the training step 0.88-0.97 of its
    time in seven of eight alternating-block runs on Zen 4 (one, 1.17)."""
    global _workers, _worker_count
    then = then or (lambda result: result)
    calls = list(zip(parts, *per_part))
    if len(calls) == 1:
        with sequence_kernel(parts[0].stop - parts[0].start, width):
            result = fn(*calls[0])
        return [then(result)]
    with _lock:
        if _worker_count < len(parts) - 1:
            if _workers is not None:
                _workers.shutdown(wait=False)  # its threads end once their parts are done
            _worker_count = len(parts) - 1
            _workers = concurrent.futures.ThreadPoolExecutor(_worker_count, thread_name_prefix="tinygrad_rnn")
    with _kernel_pool():
        futures = [_workers.submit(_then, then, fn, *call) for call in calls[1:]]
        try:
            first = _then(then, fn, *calls[0])
        finally:
            concurrent.futures.wait(futures)  # no part outlives the one-thread limit
        return [first] + [f.result() for f in futures]


def _then(then, fn, *call):
    return then(fn(*call))


def joined(parts, axes):
    """The parts' outputs, each concatenated along its axis (the one part's outputs as they are)."""
    if len(parts) == 1:
        return list(parts[0])
    return [np.concatenate(arrays, axis) for arrays, axis in zip(zip(*parts), axes)]


def total(grads):
    """The sum of the parts' gradients of one parameter (None for one that has none, as an absent bias)."""
    result = grads[0]
    for g in grads[1:]:
        result = None if result is None else result + g
    return result


def tracing():
    """One NumPy-BLAS thread while the compiler traces a step."""
    return _numpy_pool()


def one_thread_everywhere():
    """Every BLAS on one thread for the rest of the process, unless the environment chose a count."""
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return
    _load_scipy_blas()
    threadpool_limits(limits=1, user_api="blas")
