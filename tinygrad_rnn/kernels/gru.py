"""Fused GRU: one layer, one direction, a whole sequence per call, forward and backward (BPTT).

PyTorch ``nn.GRU`` semantics, rows stacked r|z|n in ``w_ih`` (3H, I) and ``w_hh`` (3H, H):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * u),  u = W_hn h + b_hn;   h' = (1 - z) * n + z * h
Because r multiplies u, the input and hidden projections get different gradients in the n rows
(dn_pre and dn_pre * r), so the backward pass keeps one (T, B, 3H) buffer for each; otherwise the
layout is the one described in ``rnn.py`` (projection before the loop, one product per step, dx and
the weight gradients as single products after it).
"""
import numpy as np
from numba import njit

from .fastmath import sigmoid, tanh
from .rnn import copy_inputs, full_lengths
from .workspace import give, take


@njit(cache=True, error_model="numpy")
def _forward(x, w_ih, w_hh, w_hh_t, b_ih, b_hh, h, lengths, reverse, act, us, hprev, out, hw):
    """Run every step. h: initial state, updated in place to the final one. Fills act (T,B,3H) with
    r|z|n, us (T,B,H) with u = W_hn h + b_hn and hprev (T,B,H) with the states before each position,
    and out (T,B,H); hw (B,3H) is scratch."""
    T, B, I = x.shape
    H = h.shape[1]
    np.dot(x.reshape(T * B, I), w_ih.T, act.reshape(T * B, 3 * H))
    for b in range(B):
        hprev[lengths[b]:, b] = 0
    for s in range(lengths.max()):
        np.dot(h, w_hh_t, hw)
        for b in range(B):
            n = lengths[b]
            if s >= n:
                continue
            p = n - 1 - s if reverse else s
            a, z, hb, ub, hp, ob = act[p, b], hw[b], h[b], us[p, b], hprev[p, b], out[p, b]
            for j in range(H):
                hp[j] = hb[j]
            for j in range(2 * H):
                a[j] = sigmoid(a[j] + b_ih[j] + z[j] + b_hh[j])
            for j in range(H):
                u = z[2 * H + j] + b_hh[2 * H + j]
                ub[j] = u
                a[2 * H + j] = tanh(a[2 * H + j] + b_ih[2 * H + j] + a[j] * u)
            for j in range(H):
                nn = a[2 * H + j]
                hn = nn + a[H + j] * (hb[j] - nn)
                hb[j] = hn
                ob[j] = hn


@njit(cache=True, error_model="numpy")
def _backward(x, w_ih, w_hh, lengths, reverse, act, us, hprev, d_out, dh, gx, gh, g, dhw, xm):
    """BPTT over every step. dh: incoming d_hn, updated in place to dh0. gx, gh (T,B,3H) receive the
    gradients of the input and hidden projections by position; g (B,3H), dhw (B,H) are scratch; xm
    receives x with padded positions zeroed when some row is shorter than T (else it is x itself).
    Returns dx, dw_ih, dw_hh, db_ih, db_hh."""
    T, B, I = x.shape
    H = dh.shape[1]
    one = x.dtype.type(1.0)
    db_ih, db_hh = np.zeros(3 * H, x.dtype), np.zeros(3 * H, x.dtype)
    for b in range(B):
        gx[lengths[b]:, b] = 0
        gh[lengths[b]:, b] = 0
    for s in range(lengths.max() - 1, -1, -1):
        for b in range(B):
            n = lengths[b]
            gb = g[b]
            if s >= n:
                gb[:] = 0
                continue
            p = n - 1 - s if reverse else s
            a, ub, hp, do, dhb = act[p, b], us[p, b], hprev[p, b], d_out[p, b], dh[b]
            gxb, ghb = gx[p, b], gh[p, b]
            for j in range(H):
                d = dhb[j] + do[j]
                r, z, nn = a[j], a[H + j], a[2 * H + j]
                dn = d * (one - z) * (one - nn * nn)
                gb[j] = dn * ub[j] * (r - r * r)
                gb[H + j] = d * (hp[j] - nn) * (z - z * z)
                gb[2 * H + j] = dn * r
                gxb[2 * H + j] = dn
                dhb[j] = d * z
            for j in range(2 * H):
                gxb[j] = gb[j]
            for j in range(3 * H):
                db_ih[j] += gxb[j]
                db_hh[j] += gb[j]
            for j in range(3 * H):
                ghb[j] = gb[j]
        np.dot(g, w_hh, dhw)
        for b in range(B):
            if s < lengths[b]:
                dhb, dhwb = dh[b], dhw[b]
                for j in range(H):
                    dhb[j] += dhwb[j]
    if lengths.min() < T:
        copy_inputs(x, lengths, xm)
    gxm = gx.reshape(T * B, 3 * H)
    dx = np.dot(gxm, w_ih).reshape(T, B, I)
    dw_ih = np.dot(gxm.T, xm.reshape(T * B, I))
    dw_hh = np.dot(gh.reshape(T * B, 3 * H).T, hprev.reshape(T * B, H))
    return dx, dw_ih, dw_hh, db_ih, db_hh


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse):
    """x (T,B,I); w_ih (3H,I), w_hh (3H,H); b_ih, b_hh (3H,) or None; h0 (B,H); lengths None or
    int (B,) in [1,T]; reverse bool. Returns (out (T,B,H), h_n (B,H), saved) for gru_backward."""
    x, w_ih, w_hh = np.ascontiguousarray(x), np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    T, B, _ = x.shape
    H, dt = w_hh.shape[1], x.dtype
    lengths = full_lengths(lengths, T, B)
    zeros = np.zeros(3 * H, dt)
    b_i = zeros if b_ih is None else np.ascontiguousarray(b_ih, dt)
    b_h = zeros if b_hh is None else np.ascontiguousarray(b_hh, dt)
    h = np.array(h0, dt, order="C")
    out = np.empty((T, B, H), dt) if lengths.min() == T else np.zeros((T, B, H), dt)
    bufs = [take((T, B, 3 * H), dt), take((T, B, H), dt), take((T, B, H), dt)]
    w_hh_t, hw = take((H, 3 * H), dt), take((B, 3 * H), dt)
    _forward(x, w_ih, w_hh, w_hh_t, b_i, b_h, h, lengths, bool(reverse), *bufs, out, hw)
    give(w_hh_t)
    give(hw)
    return out, h, (bufs, x, w_ih, w_hh, lengths, bool(reverse), b_ih is not None)


def gru_backward(saved, d_out, d_hn):
    """Gradients of a loss given d_out (T,B,H) and d_hn (B,H).
    Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0); db_* are None when the biases were None."""
    bufs, x, w_ih, w_hh, lengths, reverse, has_bias = saved
    if not bufs:
        raise RuntimeError("gru_backward: the saved buffers were already released")
    T, B, _ = x.shape
    H, dt = w_hh.shape[1], x.dtype
    dh = np.array(d_hn, dt, order="C")
    gx, gh = take((T, B, 3 * H), dt), take((T, B, 3 * H), dt)
    g, dhw = take((B, 3 * H), dt), take((B, H), dt)
    xm = x if lengths.min() == T else take(x.shape, dt)
    dx, dw_ih, dw_hh, db_ih, db_hh = _backward(x, w_ih, w_hh, lengths, reverse, *bufs,
                                               np.ascontiguousarray(d_out, dt), dh, gx, gh, g, dhw, xm)
    for a in (gx, gh, g, dhw) + (() if xm is x else (xm,)):
        give(a)
    if not has_bias:
        db_ih = db_hh = None
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh


def release(saved):
    """Give the buffers of ``saved`` back to the pool: call once backward will not run again."""
    bufs = saved[0]
    while bufs:
        give(bufs.pop())
