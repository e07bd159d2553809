"""Pointwise kernels on 1-D contiguous arrays of equal size (the caller flattens).

Constants are made in the array's dtype (``dtype.type``) so float32 stays float32 and vectorises.
``scalar_exp`` is the exp every kernel uses: libm's in float64, a vectorisable one in float32.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def scalar_exp(v):
    """e^v. float64: math.exp. float32: Cephes expf, e^v = 2^k * p(r), v = k ln2 + r, |r| <= ln2/2,
    within 2 ulp and vectorisable (libm's expf is a scalar call); e^v < 2^-126 flushes to 0 and
    v > 88.37 gives inf.
    """
    if not isinstance(v, np.float32):
        return math.exp(v)
    f = np.float32
    lo = f(-87.33654)  # ln 2^-126
    hi = f(88.37)  # largest v with k <= 127
    w = v if v > lo else lo  # clamped, NaN -> lo: the integer part below stays in range
    w = w if w < hi else hi
    k = np.floor(w * f(1.44269504) + f(0.5))
    r = (w - k * f(0.693359375)) - k * f(-2.12194440e-4)  # ln2 split in two: k * hi-part is exact
    p = (((((f(1.9875691500e-4) * r + f(1.3981999507e-3)) * r + f(8.3334519073e-3)) * r
           + f(4.1665795894e-2)) * r + f(1.6666665459e-1)) * r + f(5.0000001201e-1)) * (r * r) + r + f(1)
    e = p * np.int32((np.int32(k) + 127) << 23).view(f)  # 2^k built from its exponent bits
    if v < lo:
        e = f(0)
    if v > hi:
        e = f(np.inf)
    if v != v:
        e = v
    return e


@njit(cache=True, error_model="numpy")
def sigmoid(x):
    """y = 1 / (1 + e) for x >= 0, e / (1 + e) otherwise, e = exp(-|x|) <= 1: nothing overflows."""
    one = x.dtype.type(1)
    y = np.empty_like(x)
    for i in range(x.shape[0]):
        v = x[i]
        e = scalar_exp(-abs(v))
        y[i] = one / (one + e) if v >= 0 else e / (one + e)
    return y


@njit(cache=True, error_model="numpy")
def tanh_backward(g, y):
    """dx = g * (1 - y*y), y = tanh(x)."""
    one = y.dtype.type(1)
    dx = np.empty_like(g)
    for i in range(g.shape[0]):
        dx[i] = g[i] * (one - y[i] * y[i])
    return dx


@njit(cache=True, error_model="numpy")
def sigmoid_backward(g, y):
    """dx = g * y * (1 - y), y = sigmoid(x)."""
    one = y.dtype.type(1)
    dx = np.empty_like(g)
    for i in range(g.shape[0]):
        dx[i] = g[i] * y[i] * (one - y[i])
    return dx


@njit(cache=True, error_model="numpy")
def relu_backward(g, y):
    """dx = g where y > 0 else 0, y = relu(x) (as PyTorch: a non-finite g at y <= 0 still gives 0)."""
    zero = g.dtype.type(0)
    dx = np.empty_like(g)
    for i in range(g.shape[0]):
        dx[i] = g[i] if y[i] > 0 else zero
    return dx
