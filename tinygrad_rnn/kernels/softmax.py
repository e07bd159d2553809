"""Softmax family over the rows (last axis) of 2-D C-contiguous arrays; the caller moves the axis.

Each row is shifted by its maximum before exp, so inputs of +-1e4 stay finite. exp is ``scalar_exp``
(libm in float64, exact to libm precision; vectorised in float32). Row sums run in float64 over a
buffer filled by a separate loop, so that the exp loop vectorises. Callers guarantee C >= 1.
"""
import math

import numpy as np
from numba import njit

from .pointwise import scalar_exp


@njit(cache=True, error_model="numpy")
def _row_max(x, n):
    """max(x[n]) (NaNs are left to propagate through the exps)."""
    m = x[n, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[n, j])
    return m


@njit(cache=True, error_model="numpy")
def _row_sum(a, n):
    """sum(a[n]) in float64, as four partial sums (one long dependency chain would keep the loop serial)."""
    C = a.shape[1]
    s0 = s1 = s2 = s3 = np.float64(0)
    for j in range(0, C - 3, 4):
        s0 += a[n, j]
        s1 += a[n, j + 1]
        s2 += a[n, j + 2]
        s3 += a[n, j + 3]
    for j in range(C - C % 4, C):
        s0 += a[n, j]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, error_model="numpy")
def _log_sum_exp_shifted(x, n, m, buf, k):
    """buf[k] = exp(x[n] - m); returns log(sum(buf[k])) in float64."""
    for j in range(x.shape[1]):
        buf[k, j] = scalar_exp(x[n, j] - m)
    return math.log(_row_sum(buf, k))


@njit(cache=True, error_model="numpy")
def log_softmax_rows(x):
    """y = (x - m) - log(sum(exp(x - m))), m = max of the row."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        m = _row_max(x, n)
        c = _log_sum_exp_shifted(x, n, m, y, n)
        for j in range(x.shape[1]):
            y[n, j] = (x[n, j] - m) - c
    return y


@njit(cache=True, error_model="numpy")
def softmax_rows(x):
    """y = exp(x - m) / sum(exp(x - m)), m = max of the row."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        r = math.exp(-_log_sum_exp_shifted(x, n, _row_max(x, n), y, n))
        for j in range(x.shape[1]):
            y[n, j] *= r
    return y


@njit(cache=True, error_model="numpy")
def log_softmax_backward_rows(g, y):
    """dx = g - exp(y) * sum(g), per row (y = log_softmax(x))."""
    dx = np.empty_like(g)
    for n in range(g.shape[0]):
        s = _row_sum(g, n)
        for j in range(g.shape[1]):
            dx[n, j] = g[n, j] - scalar_exp(y[n, j]) * s
    return dx


@njit(cache=True, error_model="numpy")
def softmax_backward_rows(g, y):
    """dx = y * (g - sum(g * y)), per row (y = softmax(x))."""
    dx = np.empty_like(g)
    for n in range(g.shape[0]):
        for j in range(g.shape[1]):
            dx[n, j] = g[n, j] * y[n, j]
        s = _row_sum(dx, n)
        for j in range(g.shape[1]):
            dx[n, j] = y[n, j] * (g[n, j] - s)
    return dx


@njit(cache=True, error_model="numpy")
def logsumexp_rows(x):
    """out = m + log(sum(exp(x - m))) per row; a row whose max is +-inf gives it (NaN if one is there)."""
    out = np.empty(x.shape[0], x.dtype)
    buf = np.empty((1, x.shape[1]), x.dtype)
    for n in range(x.shape[0]):
        m = _row_max(x, n)
        if math.isinf(m):
            for j in range(x.shape[1]):
                if x[n, j] != x[n, j]:
                    m = x[n, j]
            out[n] = m
        else:
            out[n] = m + _log_sum_exp_shifted(x, n, m, buf, 0)
    return out


@njit(cache=True, error_model="numpy")
def cross_entropy_rows(logits, target, ignore_index, label_smoothing):
    """loss = lse - (1-ls) * x[t] - ls * mean(x) per row, 0 where t == ignore_index; returns (loss, lse).

    Evaluated on max-shifted logits, so the cancellation in lse - x[t] costs no accuracy. lse is
    float64 whatever the dtype: rounded to float32 at logits ~1e4 it would be off by ~1e-3, and so
    would every probability exp(x - lse) in the backward.
    """
    N, C = logits.shape
    loss = np.zeros(N, logits.dtype)
    lse = np.empty(N, np.float64)
    buf = np.empty((1, C), logits.dtype)
    for n in range(N):
        m = _row_max(logits, n)
        c = _log_sum_exp_shifted(logits, n, m, buf, 0)
        lse[n] = m + c
        t = target[n]
        if t == ignore_index:
            continue
        z = (1.0 - label_smoothing) * (logits[n, t] - m)
        if label_smoothing != 0.0:
            for j in range(C):
                buf[0, j] = logits[n, j] - m
            z += label_smoothing * (_row_sum(buf, 0) / C)
        loss[n] = c - z
    return loss, lse


@njit(cache=True, error_model="numpy")
def cross_entropy_backward_rows(logits, lse, target, ignore_index, label_smoothing, g):
    """dx = g * (exp(x - lse) - (1-ls) * onehot(t) - ls/C) per row, 0 where t == ignore_index."""
    N, C = logits.shape
    f = logits.dtype.type
    dx = np.empty_like(logits)
    u = f(label_smoothing / C)
    hit = f((1.0 - label_smoothing) + label_smoothing / C)
    for n in range(N):
        t = target[n]
        if t == ignore_index:
            dx[n, :] = 0
            continue
        gn = f(g[n])
        c_hi = f(lse[n])  # lse = c_hi + c_lo in the logits' dtype: x - lse loses nothing to rounding lse
        c_lo = f(lse[n] - c_hi)
        for j in range(C):
            dx[n, j] = gn * (scalar_exp((logits[n, j] - c_hi) - c_lo) - u)
        dx[n, t] = gn * (scalar_exp((logits[n, t] - c_hi) - c_lo) - hit)
    return dx
