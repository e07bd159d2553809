"""Matrix helpers of the compiled recurrent sequences (tinygrad_rnn.compiler.sequence).

The products run in numba, so in SciPy's BLAS: a recurrent layer's products, per-step (inside the
generated kernels) or not (these), all use that one thread pool, and NumPy's stays asleep (see
blas_threads for why it matters).
"""
import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy", nogil=True)
def transpose_into(a, out):
    """out[:] = a.T, 16 rows of a at a time (faster than np.copyto(out, a.T) on large weights)."""
    n, m = a.shape
    for i0 in range(0, n, 16):
        for j in range(m):
            for i in range(i0, min(i0 + 16, n)):
                out[j, i] = a[i, j]


@njit(cache=True, error_model="numpy", nogil=True)
def dot(a, b):
    """a b for 2-D contiguous (or transposed contiguous) arrays, by the BLAS the kernels use."""
    return np.dot(a, b)
