"""Fused LSTM: one layer, one direction, a whole sequence per call, forward and backward (BPTT).

PyTorch ``nn.LSTM`` semantics, gate rows stacked i|f|g|o in ``w_ih`` (4H, I) and ``w_hh`` (4H, H):
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g);  a = W_ih x + b_ih + W_hh h + b_hh
    c' = f * c + i * g;   h' = o * tanh(c')
The input projection of all T*B rows is one matrix product before the time loop; each step is one
(B, H) x (H, 4H) product plus short elementwise loops. The backward pass collects the gradients of the
gate pre-activations of every position in one (T, B, 4H) buffer, from which dx, dW_ih, dW_hh and the
bias gradients are each one product (or sum) after the loop.

Rows with ``lengths[b] < T`` are padded: row b reads position t = s (forward) or t = lengths[b]-1-s
(reverse) at step s, is active while s < lengths[b], and otherwise keeps its state; all buffers
indexed by position (activations, gradients) hold zeros, or nothing that is read, at padded positions.
"""
import numpy as np
from numba import njit

from .fastmath import sigmoid, tanh
from .rnn import copy_inputs, full_lengths, stacked_grads
from .workspace import give, take


@njit(cache=True, error_model="numpy")
def _forward(x, w_ih, w_hh, w_hh_t, bias, h, c, lengths, reverse, act, cs, xh, out, hw):
    """Run every step. h, c: initial states, updated in place to the final ones. Fills act (T,B,4H)
    with the gate activations, cs (T,B,H) with the cell state after each position, xh (T,B,I+H) with
    [x, h before the step] of each position (zero where padded), and out; hw (B,4H) is scratch."""
    T, B, I = x.shape
    H = h.shape[1]
    np.dot(x.reshape(T * B, I), w_ih.T, act.reshape(T * B, 4 * H))
    copy_inputs(x, lengths, xh)
    for s in range(lengths.max()):
        np.dot(h, w_hh_t, hw)
        for b in range(B):
            n = lengths[b]
            if s >= n:
                continue
            p = n - 1 - s if reverse else s
            a, z, hb, cb = act[p, b], hw[b], h[b], c[b]
            hp, csb, ob = xh[p, b], cs[p, b], out[p, b]
            for j in range(H):
                hp[I + j] = hb[j]
            for j in range(2 * H):
                a[j] = sigmoid(a[j] + z[j] + bias[j])
            for j in range(H):
                k = 2 * H + j
                a[k] = tanh(a[k] + z[k] + bias[k])
            for j in range(H):
                k = 3 * H + j
                a[k] = sigmoid(a[k] + z[k] + bias[k])
            for j in range(H):
                cn = a[H + j] * cb[j] + a[j] * a[2 * H + j]
                cb[j] = cn
                csb[j] = cn
            for j in range(H):
                hn = a[3 * H + j] * tanh(cb[j])
                hb[j] = hn
                ob[j] = hn


@njit(cache=True, error_model="numpy")
def _backward(w_ih, w_hh, c0, lengths, reverse, act, cs, xh, d_out, dh, dc, dgates, g, dhw):
    """BPTT over every step. dh, dc: incoming d_hn, d_cn, updated in place to dh0, dc0. dgates
    (T,B,4H) receives the gate pre-activation gradients by position; g (B,4H), dhw (B,H) are scratch.
    Returns dx, dw_ih, dw_hh, db."""
    T, B, G = act.shape
    H = G // 4
    one = act.dtype.type(1.0)
    db = np.zeros(G, act.dtype)
    for b in range(B):
        dgates[lengths[b]:, b] = 0
    for s in range(lengths.max() - 1, -1, -1):
        for b in range(B):
            n = lengths[b]
            gb = g[b]
            if s >= n:
                gb[:] = 0
                continue
            p = n - 1 - s if reverse else s
            c_prev = c0[b] if s == 0 else cs[p + 1 if reverse else p - 1, b]
            a, cp, do, dhb, dcb, dgb = act[p, b], cs[p, b], d_out[p, b], dh[b], dc[b], dgates[p, b]
            for j in range(H):
                d = dhb[j] + do[j]
                o, tc = a[3 * H + j], tanh(cp[j])
                gb[3 * H + j] = d * tc * (o - o * o)
                dcb[j] += d * o * (one - tc * tc)
            for j in range(H):
                d = dcb[j]
                i, f, gg = a[j], a[H + j], a[2 * H + j]
                gb[j] = d * gg * (i - i * i)
                gb[H + j] = d * c_prev[j] * (f - f * f)
                gb[2 * H + j] = d * i * (one - gg * gg)
                dcb[j] = d * f
            for j in range(G):
                db[j] += gb[j]
                dgb[j] = gb[j]
        np.dot(g, w_hh, dhw)
        for b in range(B):
            if s < lengths[b]:
                dhb, dhwb = dh[b], dhw[b]
                for j in range(H):
                    dhb[j] = dhwb[j]
    dx, dw_ih, dw_hh = stacked_grads(dgates, xh, w_ih)
    return dx, dw_ih, dw_hh, db


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
    bufs = [take((T, B, 4 * H), dt), take((T, B, H), dt), take((T, B, x.shape[2] + H), dt)]
    w_hh_t, hw = take((H, 4 * H), dt), take((B, 4 * H), dt)
    _forward(x, w_ih, w_hh, w_hh_t, bias, h, c, lengths, bool(reverse), *bufs, out, hw)
    give(w_hh_t)
    give(hw)
    return out, h, c, (bufs, w_ih, w_hh, np.ascontiguousarray(c0, dt), lengths, bool(reverse), b_ih is not None)


def lstm_backward(saved, d_out, d_hn, d_cn):
    """Gradients of a loss given d_out (T,B,H), d_hn, d_cn (B,H).
    Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0); db_* are None when the biases were None."""
    bufs, w_ih, w_hh, c0, lengths, reverse, has_bias = saved
    if not bufs:
        raise RuntimeError("lstm_backward: the saved buffers were already released")
    T, B, H = bufs[1].shape
    dt = w_hh.dtype
    dh, dc = np.array(d_hn, dt, order="C"), np.array(d_cn, dt, order="C")
    dgates, g, dhw = take((T, B, 4 * H), dt), take((B, 4 * H), dt), take((B, H), dt)
    dx, dw_ih, dw_hh, db = _backward(w_ih, w_hh, c0, lengths, reverse, *bufs,
                                     np.ascontiguousarray(d_out, dt), dh, dc, dgates, g, dhw)
    for a in (dgates, g, dhw):
        give(a)
    db_ih, db_hh = (db, db.copy()) if has_bias else (None, None)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh, dc


def release(saved):
    """Give the buffers of ``saved`` back to the pool: call once backward will not run again."""
    bufs = saved[0]
    while bufs:
        give(bufs.pop())
