"""Matrix helpers of the compiled recurrent sequences (tinygrad_rnn.compiler.sequence).

The products run in numba, so in SciPy's BLAS: a recurrent layer's products, per-step (inside the
generated kernels) or not (these), all use that one thread pool, and NumPy's stays asleep (see
blas_threads for why it matters).
"""
import functools

import numpy as np
from numba import njit

from ..blas_threads import kernels_blas

SMALL_PRODUCT = 10 ** 6  # multiply-adds up to which OpenBLAS's AVX-512 sgemm runs without packing
SMALL_KERNEL_BLAS = ("SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS")  # OpenBLAS cores with that kernel


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


def step_product_rows(batch, inner, outer, dtype):
    """Rows per BLAS call of a per-step product a W, a (batch, inner), W (inner, outer).

    OpenBLAS's AVX-512 cores run a float32 product of up to SMALL_PRODUCT multiply-adds by a kernel
    that reads W as it is; a larger one packs W first, on every call, and at a small batch the
    packing costs more than the product. So up to 32 rows, a product above that size runs in calls
    of 8 rows when those fit under it. Measured (one thread, numba's dot, Zen 4), as a fraction of one
    call's time: W (128, 512) at 16-32 rows 0.47-0.62, (128, 384) at 24-32 rows 0.56-0.95, (160, 640)
    at 12-28 rows 0.51-0.90; from 48 rows one call may win, and float64 gains nothing."""
    size = batch * inner * outer
    if (np.dtype(dtype) != np.float32 or batch > 32 or size <= SMALL_PRODUCT
            or 8 * inner * outer > SMALL_PRODUCT or not small_kernel_blas()):
        return max(batch, 1)
    return 8


@functools.cache
def small_kernel_blas():
    """Whether the kernels' BLAS (SciPy's OpenBLAS) runs on a core with the small-matrix kernel."""
    return any(str(getattr(lib, "architecture", "")).upper() in SMALL_KERNEL_BLAS for lib in kernels_blas())
