"""Fused GRU: one layer, one direction, a whole sequence per call, forward and backward (BPTT).

PyTorch ``nn.GRU`` semantics, rows stacked r|z|n in ``w_ih`` (3H, I) and ``w_hh`` (3H, H):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * u),  u = W_hn h + b_hn;   h' = (1 - z) * n + z * h
Because r multiplies u, the input and hidden projections get different gradients in the n rows
(dn_pre and dn_pre * r), so the backward pass keeps one (T, B, 3H) buffer for each; otherwise the
layout is the one described in ``sequence_parts`` (projection before the loop, one product per step,
dx and the weight gradients as single products after it).
"""
import numpy as np
from numba import njit

from .fastmath import sigmoid_gate, tanh
from .sequence_parts import full_lengths, input_grad, input_projection, transpose_into
from .workspace import give, take


@njit(cache=True, error_model="numpy", nogil=True)
def _forward(x, w_hh, b_rz, b_in, b_hn, h, lengths, reverse, gates, us, xs, hprev, w_hh_t, out, hw):
    """Run every step, after input_projection: gates (T,B,3H) holds x W_ih^T and xs (T,B,I) x (zero
    where padded); b_rz = b_ir|b_iz + b_hr|b_hz. h: initial state, updated in place to the final
    one. Fills gates with r|z|n, us (T,B,H) with u = W_hn h + b_hn, hprev (T,B,H) with the states
    before each position (zero where padded), w_hh_t with W_hh^T, and out (T,B,H); hw (B,3H) is
    scratch."""
    T, B, I = x.shape
    H = h.shape[1]
    transpose_into(w_hh, w_hh_t)
    for b in range(B):
        hprev[lengths[b]:, b] = 0
    for s in range(lengths.max()):
        np.dot(h, w_hh_t, hw)
        for b in range(B):
            n = lengths[b]
            if s >= n:
                continue
            p = n - 1 - s if reverse else s
            a, z, hb, ub, hp, ob = gates[p, b], hw[b], h[b], us[p, b], hprev[p, b], out[p, b]
            for j in range(H):
                hp[j] = hb[j]
            sigmoid_gate(a[:2 * H], z[:2 * H], b_rz)
            ar, az, an, zn = a[:H], a[H:2 * H], a[2 * H:], z[2 * H:]
            for j in range(H):
                u = zn[j] + b_hn[j]
                ub[j] = u
                an[j] = tanh(an[j] + b_in[j] + ar[j] * u)
            for j in range(H):
                nn = an[j]
                hn = nn + az[j] * (hb[j] - nn)
                hb[j] = hn
                ob[j] = hn


@njit(cache=True, error_model="numpy", nogil=True)
def _backward(lengths, reverse, gates, us, xs, hprev, w_hh_t, d_out, dh, gx, gh, g, dhw_t):
    """BPTT over every step. dh: incoming d_hn, updated in place to dh0. gx, gh (T,B,3H) receive the
    gradients of the input and hidden projections by position (gh through g (B,3H) unless all rows
    are at the same position); dhw_t (H,B) is scratch. Returns db_ih, db_hh (_weight_grads does the rest)."""
    T, B, I = xs.shape
    H = dh.shape[1]
    one = xs.dtype.type(1.0)
    db_ih, db_hh = np.zeros(3 * H, xs.dtype), np.zeros(3 * H, xs.dtype)
    for b in range(B):
        gx[lengths[b]:, b] = 0
        gh[lengths[b]:, b] = 0
    uniform = not reverse or lengths.min() == lengths.max()  # every row at the same position
    for s in range(lengths.max() - 1, -1, -1):
        gs = gh[lengths[0] - 1 - s if reverse else s] if uniform else g
        for b in range(B):
            n = lengths[b]
            gb = gs[b]
            if s >= n:
                gb[:] = 0
                continue
            p = n - 1 - s if reverse else s
            a, ub, hp, dy, dhb = gates[p, b], us[p, b], hprev[p, b], d_out[p, b], dh[b]
            gxb = gx[p, b]
            ar, az, an = a[:H], a[H:2 * H], a[2 * H:]
            gr, gz, gn, xn = gb[:H], gb[H:2 * H], gb[2 * H:], gxb[2 * H:]
            for j in range(H):
                d, r, z, nn = dhb[j] + dy[j], ar[j], az[j], an[j]
                dn = d * (one - z) * (one - nn * nn)
                gr[j] = dn * ub[j] * (r - r * r)
                gz[j] = d * (hp[j] - nn) * (z - z * z)
                xn[j] = dn
            for j in range(H):
                gn[j] = xn[j] * ar[j]
                dhb[j] = (dhb[j] + dy[j]) * az[j]
            for j in range(2 * H):
                gxb[j] = gb[j]
            for j in range(3 * H):
                db_ih[j] += gxb[j]
                db_hh[j] += gb[j]
            if not uniform:
                gh[p, b] = gb
        np.dot(w_hh_t, gs.T, dhw_t)
        for b in range(B):
            if s < lengths[b]:
                dhb = dh[b]
                for j in range(H):
                    dhb[j] += dhw_t[j, b]
    return db_ih, db_hh


@njit(cache=True, error_model="numpy", nogil=True)
def _weight_grads(gx, gh, xs, hprev):
    """dW_ih = Gx^T X, dW_hh = Gh^T H_prev, after the kernel."""
    T, B, G = gx.shape
    return (np.dot(gx.reshape(T * B, G).T, xs.reshape(T * B, xs.shape[2])),
            np.dot(gh.reshape(T * B, G).T, hprev.reshape(T * B, hprev.shape[2])))


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse):
    """x (T,B,I); w_ih (3H,I), w_hh (3H,H); b_ih, b_hh (3H,) or None; h0 (B,H); lengths None or
    int (B,) in [1,T]; reverse bool. Returns (out (T,B,H), h_n (B,H), saved) for gru_backward."""
    x, w_ih, w_hh = np.ascontiguousarray(x), np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    T, B, _ = x.shape
    H, dt = w_hh.shape[1], x.dtype
    lengths = full_lengths(lengths, T, B)
    b_i = np.zeros(3 * H, dt) if b_ih is None else np.asarray(b_ih, dt)
    b_h = np.zeros(3 * H, dt) if b_hh is None else np.asarray(b_hh, dt)
    biases = b_i[:2 * H] + b_h[:2 * H], b_i[2 * H:].copy(), b_h[2 * H:].copy()
    h = np.array(h0, dt, order="C")
    out = np.empty((T, B, H), dt) if lengths.min() == T else np.zeros((T, B, H), dt)
    bufs = [take((T, B, 3 * H), dt), take((T, B, H), dt), take(x.shape, dt), take((T, B, H), dt),
            take((H, 3 * H), dt)]
    hw = take((B, 3 * H), dt)
    input_projection(x, lengths, bufs[2], w_ih, bufs[0])
    _forward(x, w_hh, *biases, h, lengths, bool(reverse), *bufs, out, hw)
    give(hw)
    return out, h, (bufs, w_ih, lengths, bool(reverse), b_ih is not None)


def gru_backward(saved, d_out, d_hn, need_dx=True):
    """Gradients of a loss given d_out (T,B,H) and d_hn (B,H).
    Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0); db_* are None when the biases were None,
    dx when need_dx is false."""
    bufs, w_ih, lengths, reverse, has_bias = saved
    if not bufs:
        raise RuntimeError("gru_backward: the saved buffers were already released")
    T, B, H = bufs[1].shape
    dt = w_ih.dtype
    dh = np.array(d_hn, dt, order="C")
    gx, gh = take((T, B, 3 * H), dt), take((T, B, 3 * H), dt)
    g, dhw_t = take((B, 3 * H), dt), take((H, B), dt)
    db_ih, db_hh = _backward(lengths, reverse, *bufs, np.ascontiguousarray(d_out, dt), dh, gx, gh, g, dhw_t)
    dx = input_grad(gx, w_ih, need_dx)
    dw_ih, dw_hh = _weight_grads(gx, gh, bufs[2], bufs[3])
    for a in (gx, gh, g, dhw_t):
        give(a)
    if not has_bias:
        db_ih = db_hh = None
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh


def release(saved):
    """Give the buffers of ``saved`` back to the pool: call once backward will not run again."""
    bufs = saved[0]
    while bufs:
        give(bufs.pop())
