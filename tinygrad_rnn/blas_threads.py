"""The library's one BLAS thread policy: how many threads the matrix products of a recurrent kernel get.

Two OpenBLAS builds are loaded in a process that uses this library: NumPy's (products called from
Python) and SciPy's, which numba's ``np.dot`` calls inside the kernels. Each keeps its own pool of
worker threads, and an idle worker spins for a while before it sleeps: with both pools awake on two
cores, a kernel runs beside spinning threads (benchmarks/RESULTS.md, "BLAS thread policy", has the
measurements). So every product of a recurrent layer, per-step or not, runs in numba (the kernels
and kernels.sequence_parts), in SciPy's pool alone.

The policy:
- ``sequence_kernel(batch, width)``: while a recurrent layer's kernels run, SciPy's BLAS uses one
  thread if the per-step product is small (batch * width below ``SMALL_STEP``, width being the
  product's inner size times its output size), where a second thread gains little and its spinning
  costs more. NumPy's BLAS is left alone. The limit is process-wide, so threads
  share it: the first in sets it, the last out restores it. (OpenBLAS 0.3.31 ignores a count set
  from another thread once the main thread has set one, so the limit is surest from the main thread.)
- ``tracing()``: while the compiler traces a cell's step (a batch of two), NumPy's BLAS uses one
  thread: a product that small gains nothing from a second one, and waking NumPy's pool there left
  its workers spinning beside every kernel of the sequence that followed.
- ``one_thread_everywhere()``: the command line's choice for its small training runs, unless the
  user set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.
"""
import contextlib
import os
import threading

from threadpoolctl import ThreadpoolController, threadpool_limits

SMALL_STEP = 1 << 18  # batch * inner * outer of the per-step product below which one thread is used

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


def _kernels_blas():
    return _blas_pools()[0]


class _OneThread:
    """One thread for some BLAS pools while anyone is inside: the limit is process-wide, so threads
    share it; the first in sets it, the last out restores it."""

    def __init__(self, which):
        self.which, self.libs, self.users, self.restore = which, None, 0, []

    @contextlib.contextmanager
    def __call__(self):
        with _lock:
            if self.libs is None:
                self.libs = _blas_pools()[self.which]
            if self.users == 0:
                self.restore = [(lib, lib.num_threads) for lib in self.libs]
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


def tracing():
    """One NumPy-BLAS thread while the compiler traces a step."""
    return _numpy_pool()


def one_thread_everywhere():
    """Every BLAS on one thread for the rest of the process, unless the environment chose a count."""
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return
    _load_scipy_blas()
    threadpool_limits(limits=1, user_api="blas")
