"""Fused LSTM: one layer, one direction, a whole sequence per call, forward and backward (BPTT).

PyTorch ``nn.LSTM`` semantics, gate rows stacked i|f|g|o in ``w_ih`` (4H, I) and ``w_hh`` (4H, H):
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g);  a = W_ih x + b_ih + W_hh h + b_hh
    c' = f * c + i * g;   h' = o * tanh(c')
The input projection of all T*B rows is one matrix product before the time loop; each step is one
(B, H) x (H, 4H) product plus short elementwise loops. The backward pass collects the gradients of the
gate pre-activations of every position in one (T, B, 4H) buffer D; after the loop dx = D W_ih (when x
needs it) and [dW_ih | dW_hh] = D^T [x | h_prev] are one product each, and the bias gradient is summed
on the way.

Rows with ``lengths[b] < T`` are padded: row b reads position t = s (forward) or t = lengths[b]-1-s
(reverse) at step s, is active while s < lengths[b], and otherwise keeps its state; all buffers
indexed by position (activations, gradients) hold zeros, or nothing that is read, at padded positions.
"""
import numpy as np
from numba import njit

from .fastmath import lstm_gates, tanh
from .sequence_parts import (full_lengths, input_grad, input_projection, previous_state_grads, stacked_grads,
                             transpose_into)
from .workspace import give, take


@njit(cache=True, error_model="numpy", nogil=True)
def _forward(x, w_hh, bias, h, c, lengths, reverse, gates, cs, xh, w_hh_t, out, hw):
    """Run every step, after input_projection: gates (T,B,4H) holds x W_ih^T and xh (T,B,I+H) x (zero
    where padded). h, c: initial states, updated in place to the final ones. Fills gates with the
    gate activations, cs (T,B,H) with the cell state after each position, the h part of xh with the
    state before each position, w_hh_t with W_hh^T, and out; hw (B,4H) is scratch."""
    T, B, I = x.shape
    H = h.shape[1]
    transpose_into(w_hh, w_hh_t)
    for s in range(lengths.max()):
        np.dot(h, w_hh_t, hw)
        for b in range(B):
            n = lengths[b]
            if s >= n:
                continue
            p = n - 1 - s if reverse else s
            a, z, hb, cb, hp = gates[p, b], hw[b], h[b], c[b], xh[p, b, I:]
            for j in range(H):
                hp[j] = hb[j]
            lstm_gates(a, z, bias)
            ai, af, ag, ao = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            csb, ob = cs[p, b], out[p, b]
            for j in range(H):
                cn = af[j] * cb[j] + ai[j] * ag[j]
                cb[j] = cn
                csb[j] = cn
            for j in range(H):
                hn = ao[j] * tanh(cb[j])
                hb[j] = hn
                ob[j] = hn


@njit(cache=True, error_model="numpy", nogil=True)
def _backward(c0, lengths, reverse, gates, cs, xh, w_hh_t, d_out, dh, dc, dgates, g, dhw_t):
    """BPTT over every step. dh, dc: incoming d_hn, d_cn, updated in place to dh0, dc0. dgates
    (T,B,4H) receives the gate pre-activation gradients by position (directly when all rows are at
    the same position, else through g (B,4H)); dhw_t (H,B) is scratch.
    Returns db; after it the weight gradients are stacked_grads of dgates, dx its input_grad."""
    T, B, G = gates.shape
    H = G // 4
    one = gates.dtype.type(1.0)
    db = np.zeros(G, gates.dtype)
    for b in range(B):
        dgates[lengths[b]:, b] = 0
    uniform = not reverse or lengths.min() == lengths.max()  # every row at the same position
    for s in range(lengths.max() - 1, -1, -1):
        gs = dgates[lengths[0] - 1 - s if reverse else s] if uniform else g
        for b in range(B):
            n = lengths[b]
            gb = gs[b]
            if s >= n:
                gb[:] = 0
                continue
            p = n - 1 - s if reverse else s
            c_prev = c0[b] if s == 0 else cs[p + 1 if reverse else p - 1, b]
            a, cp, dy, dhb, dcb = gates[p, b], cs[p, b], d_out[p, b], dh[b], dc[b]
            ai, af, ag, ao = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            d_i, d_f, d_g, d_o = gb[:H], gb[H:2 * H], gb[2 * H:3 * H], gb[3 * H:]
            for j in range(H):
                d, o, tc = dhb[j] + dy[j], ao[j], tanh(cp[j])
                d_o[j] = d * tc * (o - o * o)
                dcb[j] += d * o * (one - tc * tc)
            for j in range(H):
                d, i, f, gt = dcb[j], ai[j], af[j], ag[j]
                d_i[j] = d * gt * (i - i * i)
                d_f[j] = d * c_prev[j] * (f - f * f)
                d_g[j] = d * i * (one - gt * gt)
                dcb[j] = d * f
            for j in range(G):
                db[j] += gb[j]
            if not uniform:
                dgates[p, b] = gb
        previous_state_grads(w_hh_t, gs, dhw_t, dh, lengths, s)
    return db


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse):
    """x (T,B,I); w_ih (4H,I), w_hh (4H,H); b_ih, b_hh (4H,) or None; h0, c0 (B,H); lengths None or
    int (B,) in [1,T]; reverse bool. Returns (out (T,B,H), h_n, c_n, saved) for lstm_backward."""
    x, w_ih, w_hh = np.ascontiguousarray(x), np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    T, B, _ = x.shape
    H, dt = w_hh.shape[1], x.dtype
    lengths = full_lengths(lengths, T, B)
    bias = np.zeros(4 * H, dt) if b_ih is None else np.asarray(b_ih + b_hh, dt)
    h, c = np.array(h0, dt, order="C"), np.array(c0, dt, order="C")
    out = np.empty((T, B, H), dt) if lengths.min() == T else np.zeros((T, B, H), dt)
    bufs = [take((T, B, 4 * H), dt), take((T, B, H), dt), take((T, B, x.shape[2] + H), dt),
            take((H, 4 * H), dt)]
    hw = take((B, 4 * H), dt)
    input_projection(x, lengths, bufs[2], w_ih, bufs[0])
    _forward(x, w_hh, bias, h, c, lengths, bool(reverse), *bufs, out, hw)
    give(hw)
    return out, h, c, (bufs, w_ih, np.array(c0, dt, order="C"), lengths, bool(reverse), b_ih is not None)


def lstm_backward(saved, d_out, d_hn, d_cn, need_dx=True):
    """Gradients of a loss given d_out (T,B,H), d_hn, d_cn (B,H).
    Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0); db_* are None when the biases were None,
    dx when need_dx is false."""
    bufs, w_ih, c0, lengths, reverse, has_bias = saved
    if not bufs:
        raise RuntimeError("lstm_backward: the saved buffers were already released")
    T, B, H = bufs[1].shape
    dt = w_ih.dtype
    dh, dc = np.array(d_hn, dt, order="C"), np.array(d_cn, dt, order="C")
    dgates, g, dhw_t = take((T, B, 4 * H), dt), take((B, 4 * H), dt), take((H, B), dt)
    db = _backward(c0, lengths, reverse, *bufs, np.ascontiguousarray(d_out, dt), dh, dc, dgates, g, dhw_t)
    dx = input_grad(dgates, w_ih, need_dx)
    dw_ih, dw_hh = stacked_grads(dgates, bufs[2], w_ih.shape[1])
    for a in (dgates, g, dhw_t):
        give(a)
    db_ih, db_hh = (db, db.copy()) if has_bias else (None, None)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dc


def release(saved):
    """Give the buffers of ``saved`` back to the pool: call once backward will not run again."""
    bufs = saved[0]
    while bufs:
        give(bufs.pop())
