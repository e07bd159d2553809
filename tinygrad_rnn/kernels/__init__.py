"""numba kernels: pure array-in/array-out functions, no Tensor, nothing of the package imported.

Each kernel is compiled lazily on first call (``cache=True`` keeps the machine code on disk), so
importing the package never compiles anything. ``cache=True`` needs a writable place for this
folder's cache (its __pycache__, NUMBA_CACHE_DIR or the user's cache folder); where none is (a
read-only install and HOME, common in containers) numba refuses the decorator itself, so before
any kernel is defined this module checks, and if need be points numba at a temporary folder for
this process (removed at exit), with one warning: kernels then compile once per process.
"""
import atexit
import shutil
import tempfile
import warnings

import numba


def _probe():
    """A function defined in this folder: numba finds its cache place exactly as for the kernels."""


def _ensure_cache_location():
    try:
        numba.njit(cache=True)(_probe)  # the cache locator is chosen when decorating, as for every kernel
    except RuntimeError as e:
        if "no locator available" not in str(e):
            raise
        folder = tempfile.mkdtemp(prefix="tinygrad_rnn-numba-cache-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        numba.config.CACHE_DIR = folder
        warnings.warn(f"tinygrad_rnn: numba has no writable cache folder for {__path__[0]} (read-only install "
                      f"and HOME, or NUMBA_CACHE_DIR not writable); kernels are cached in {folder} for this "
                      "process only. Set NUMBA_CACHE_DIR to a writable folder to keep them.",
                      RuntimeWarning, stacklevel=2)


_ensure_cache_location()
