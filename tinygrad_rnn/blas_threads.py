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
- ``one_thread_everywhere()``: the command line's choice for its small training runs, unless the
  user set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.
"""
import contextlib
import os
import threading

from threadpoolctl import ThreadpoolController, threadpool_limits

SMALL_STEP = 1 << 18  # batch * inner * outer of the per-step product below which one thread is used

_lock = threading.Lock()
_users = 0
_kernel_blas = None  # the thread controllers of the BLAS that numba's np.dot calls
_restore = []


def _load_scipy_blas():
    """SciPy's BLAS is what numba's np.dot calls; it must be loaded before its threads can be limited."""
    import scipy.linalg.cython_blas  # noqa: F401


def _kernels_blas():
    """SciPy's OpenBLAS, told apart from NumPy's by the folder it was loaded from; every BLAS when the
    two cannot be told apart (a build where both link one shared library)."""
    _load_scipy_blas()
    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    scipy_own = [lib for lib in blas if os.path.basename(os.path.dirname(lib.filepath)).startswith("scipy")]
    return scipy_own or blas


@contextlib.contextmanager
def sequence_kernel(batch, width):
    """One SciPy-BLAS thread while a sequence kernel runs, when batch * width < SMALL_STEP."""
    global _users, _kernel_blas
    if batch * width >= SMALL_STEP:
        yield
        return
    with _lock:
        if _kernel_blas is None:
            _kernel_blas = _kernels_blas()
        if _users == 0:
            _restore[:] = [(lib, lib.num_threads) for lib in _kernel_blas]
            for lib in _kernel_blas:
                lib.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for lib, n in _restore:
                    lib.set_num_threads(n)


def one_thread_everywhere():
    """Every BLAS on one thread for the rest of the process, unless the environment chose a count."""
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return
    _load_scipy_blas()
    threadpool_limits(limits=1, user_api="blas")
