"""Connectionist temporal classification: the forward-backward (alpha-beta) recursions in log space.

A target l of length S is extended to l' = (blank, l1, blank, l2, ..., lS, blank), 2S+1 states. A path
moves at each frame from state s to s, s+1, or s+2 when l'(s+2) is a label different from l'(s).
  alpha_t(s) = y_t(l'_s) + lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)])     (log space)
  beta_t(s)  = y_t(l'_s) + lse(beta_{t+1}(s), beta_{t+1}(s+1), [beta_{t+1}(s+2)])
  -log p(l|x) = -lse(alpha_{T-1}(2S), alpha_{T-1}(2S-1))
Both alpha and beta include frame t's log-probability, so alpha_t(s) + beta_t(s) - y_t(l'_s) is the log
of the probability of all paths through state s at frame t, and the exact gradient of -log p is
  d(-log p) / d y_t(k) = -Σ_{s: l'_s = k} exp(alpha_t(s) + beta_t(s) - y_t(k) - log p),
minus the posterior occupancy of label k at frame t. One kernel call per batch, the time loop
inside; the backward runs the beta recursion and accumulates the gradient in the same pass, so beta is
never stored. Inputs are valid (the caller checks them): targets padded (N, S) int64, lengths int64.
"""
import math

import numpy as np
from numba import njit

from .pointwise import scalar_exp

_SQRT2 = np.float32(1.41421356)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)


@njit(cache=True, error_model="numpy", inline="always")
def scalar_log(x):
    """log(x) for positive normal x. float64: math.log. float32: Cephes logf, x = 2^e m with m in
    [√½, √2), log x = e ln2 + log1p(m - 1) by a degree-9 polynomial, within 2 ulp and vectorisable
    (libm's logf is a scalar call)."""
    if not isinstance(x, np.float32):
        return math.log(x)
    f = np.float32
    bits = f(x).view(np.int32)
    e = f(((bits >> 23) & 0xFF) - 127)
    m = np.int32((bits & 0x007FFFFF) | 0x3F800000).view(f)  # in [1, 2)
    if m > _SQRT2:
        m = m * f(0.5)
        e = e + f(1)
    r = m - f(1)
    z = r * r
    y = ((((((((f(7.0376836292e-2) * r - f(1.1514610310e-1)) * r + f(1.1676998740e-1)) * r
               - f(1.2420140846e-1)) * r + f(1.4249322787e-1)) * r - f(1.6668057665e-1)) * r
            + f(2.0000714765e-1)) * r - f(2.4999993993e-1)) * r + f(3.3333331174e-1)) * r * z
    return r + ((y + e * _LN2_LO) - f(0.5) * z) + e * _LN2_HI


@njit(cache=True, error_model="numpy", inline="always")
def _lse3(a, b, c, zero):
    """log(e^a + e^b + e^c), -inf when all are; branch-free so that loops over it vectorise.
    Shifted by the largest, the exps sum to a value in [1, 3]."""
    m = max(a, max(b, c))
    finite = m > -np.inf
    shift = m if finite else zero
    total = scalar_exp(a - shift) + scalar_exp(b - shift) + scalar_exp(c - shift)
    return shift + scalar_log(total) if finite else m


@njit(cache=True, error_model="numpy")
def _extend(targets, n, length, blank, labels, skip):
    """labels[:2S+1] = l' of sequence n; skip[s] = 0 where s may be entered from s-2, else -inf."""
    for s in range(2 * length + 1):
        labels[s] = blank if s % 2 == 0 else targets[n, s // 2]
        ok = s % 2 == 1 and s >= 3 and targets[n, s // 2] != targets[n, s // 2 - 1]
        skip[s] = 0.0 if ok else -np.inf


@njit(cache=True, error_model="numpy")
def _gather(log_probs, t, n, labels, ln, out):
    """out[s] = log_probs[t, n, l'_s] for s < ln: the frame's log-probabilities in state order."""
    for s in range(ln):
        out[s] = log_probs[t, n, labels[s]]


@njit(cache=True, error_model="numpy")
def _alpha_step(prev, cur, y, skip, top, zero):
    """cur[s] = y[s] + lse(prev[s], prev[s-1], prev[s-2] + skip[s]) for 2 <= s < top."""
    for s in range(2, top):
        cur[s] = _lse3(prev[s], prev[s - 1], prev[s - 2] + skip[s], zero) + y[s]


@njit(cache=True, error_model="numpy")
def _beta_step(nxt, cur, y, skip, low, ln, zero):
    """cur[s] = y[s] + lse(nxt[s], nxt[s+1], nxt[s+2] + skip[s+2]) for low <= s < ln (nxt padded by 2)."""
    for s in range(low, ln):
        cur[s] = _lse3(nxt[s], nxt[s + 1], nxt[s + 2] + skip[s + 2], zero) + y[s]


@njit(cache=True, error_model="numpy")
def ctc_forward(log_probs, targets, input_lengths, target_lengths, blank):
    """log_probs (T, N, C) -> (nll (N,), log_alpha (N, T, 2S+1)); -inf marks unreachable states."""
    T, N, _ = log_probs.shape
    L = 2 * targets.shape[1] + 1
    zero, ninf = log_probs.dtype.type(0), log_probs.dtype.type(-np.inf)
    log_alpha = np.full((N, T, L), -np.inf, log_probs.dtype)
    nll = np.empty(N, log_probs.dtype)
    labels = np.empty(L, np.int64)
    skip = np.empty(L, log_probs.dtype)
    y = np.empty(L, log_probs.dtype)
    prev = np.full(L, -np.inf, log_probs.dtype)  # alpha at t-1 and at t, stepped in two small buffers
    cur = np.full(L, -np.inf, log_probs.dtype)  # and copied into log_alpha
    for n in range(N):
        tn, ln = input_lengths[n], 2 * target_lengths[n] + 1
        if tn == 0:
            nll[n] = 0.0 if ln == 1 else np.inf
            continue
        _extend(targets, n, target_lengths[n], blank, labels, skip)
        prev[:] = ninf
        cur[:] = ninf
        _gather(log_probs, 0, n, labels, min(ln, 2), prev)
        log_alpha[n, 0, :ln] = prev[:ln]
        for t in range(1, tn):
            top = min(ln, 2 * t + 2)  # states beyond 2t+1 are not reachable yet
            _gather(log_probs, t, n, labels, top, y)
            cur[0] = prev[0] + y[0]
            if top > 1:
                cur[1] = _lse3(prev[1], prev[0], ninf, zero) + y[1]
            _alpha_step(prev, cur, y, skip, top, zero)
            log_alpha[n, t, :top] = cur[:top]
            prev, cur = cur, prev
        nll[n] = -(_lse3(prev[ln - 1], prev[ln - 2], ninf, zero) if ln > 1 else prev[0])
    return nll, log_alpha


@njit(cache=True, error_model="numpy")
def ctc_backward(log_probs, targets, input_lengths, target_lengths, blank, log_alpha, nll, grad_nll,
                 zero_infinity):
    """d(Σ_n grad_nll[n] nll[n]) / d log_probs, (T, N, C); zero past each input length.

    An impossible alignment (nll = inf) has NaN gradient on its frames, as PyTorch's, or zero with
    zero_infinity.
    """
    T, N, _ = log_probs.shape
    L = log_alpha.shape[2]
    zero = log_probs.dtype.type(0)
    grad = np.zeros_like(log_probs)
    labels = np.empty(L, np.int64)
    skip = np.full(L + 2, -np.inf, log_probs.dtype)  # two spare entries: s + 2 stays in range
    y = np.empty(L, log_probs.dtype)
    occupancy = np.empty(L, log_probs.dtype)
    beta = np.full(L + 2, -np.inf, log_probs.dtype)
    nxt = np.full(L + 2, -np.inf, log_probs.dtype)
    for n in range(N):
        tn, ln = input_lengths[n], 2 * target_lengths[n] + 1
        if nll[n] == np.inf:
            if not zero_infinity:
                grad[:tn, n, :] = np.nan
            continue
        if tn == 0:
            continue
        _extend(targets, n, target_lengths[n], blank, labels, skip)
        skip[ln:] = -np.inf
        beta[:] = -np.inf
        nxt[:] = -np.inf
        g, total = grad_nll[n], nll[n]
        for t in range(tn - 1, -1, -1):
            _gather(log_probs, t, n, labels, ln, y)
            if t == tn - 1:
                beta[ln - 1] = y[ln - 1]
                if ln > 1:
                    beta[ln - 2] = y[ln - 2]
            else:
                beta, nxt = nxt, beta
                low = max(0, ln - 2 * (tn - t))  # states below cannot reach the end any more
                beta[:low] = -np.inf
                _beta_step(nxt, beta, y, skip, low, ln, zero)
            _occupancy(log_alpha[n, t], beta, y, total, ln, occupancy)
            for s in range(ln):
                grad[t, n, labels[s]] -= g * occupancy[s]
    return grad


@njit(cache=True, error_model="numpy")
def _occupancy(alpha, beta, y, nll, ln, out):
    """out[s] = exp(alpha[s] + beta[s] - y[s] + nll): the posterior probability of state s at the frame."""
    for s in range(ln):
        out[s] = scalar_exp((alpha[s] + beta[s]) + (nll - y[s]))
