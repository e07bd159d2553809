"""Fused Elman RNN: one layer, one direction, a whole sequence per call, forward and backward (BPTT).

PyTorch ``nn.RNN`` semantics: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu. The
layout (hoisted input projection, one product per step, stacked weight gradients) and the padding
rules are those of ``sequence_parts``, whose helpers this kernel uses.
"""
import numpy as np
from numba import njit

from .fastmath import tanh_gate
from .sequence_parts import (full_lengths, input_grad, input_projection, previous_state_grads, stacked_grads,
                             transpose_into)
from .workspace import give, take


@njit(cache=True, error_model="numpy", nogil=True)
def _forward(x, w_hh, bias, h, lengths, reverse, relu, states, xh, w_hh_t, out, hw):
    """Run every step, after input_projection: states (T,B,H) holds x W_ih^T and xh (T,B,I+H) x (zero
    where padded). h: initial state, updated in place to the final one. Fills states with the new
    states, the h part of xh with the state before each position, w_hh_t with W_hh^T, and out; hw
    (B,H) is scratch."""
    T, B, I = x.shape
    H = h.shape[1]
    zero = x.dtype.type(0.0)
    transpose_into(w_hh, w_hh_t)
    for s in range(lengths.max()):
        np.dot(h, w_hh_t, hw)
        for b in range(B):
            n = lengths[b]
            if s >= n:
                continue
            p = n - 1 - s if reverse else s
            a, z, hb, hp, ob = states[p, b], hw[b], h[b], xh[p, b], out[p, b]
            for j in range(H):
                hp[I + j] = hb[j]
            if relu:
                for j in range(H):
                    a[j] = max(a[j] + z[j] + bias[j], zero)
            else:
                tanh_gate(a, z, bias)
            for j in range(H):
                hb[j] = a[j]
                ob[j] = a[j]


@njit(cache=True, error_model="numpy", nogil=True)
def _backward(lengths, reverse, relu, states, xh, w_hh_t, d_out, dh, dgates, g, dhw_t):
    """BPTT over every step. dh: incoming d_hn, updated in place to dh0. dgates (T,B,H) receives the
    pre-activation gradients by position (through g (B,H) unless all rows are at the same position);
    dhw_t (H,B) is scratch. Returns db; the weight gradients are stacked_grads of dgates, dx input_grad."""
    T, B, H = states.shape
    one, zero = states.dtype.type(1.0), states.dtype.type(0.0)
    db = np.zeros(H, states.dtype)
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
            a, do, dhb = states[p, b], d_out[p, b], dh[b]
            if relu:
                for j in range(H):
                    gb[j] = dhb[j] + do[j] if a[j] > zero else zero
            else:
                for j in range(H):
                    gb[j] = (dhb[j] + do[j]) * (one - a[j] * a[j])
            for j in range(H):
                db[j] += gb[j]
            if not uniform:
                dgates[p, b] = gb
        previous_state_grads(w_hh_t, gs, dhw_t, dh, lengths, s)
    return db


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse, nonlinearity):
    """x (T,B,I); w_ih (H,I), w_hh (H,H); b_ih, b_hh (H,) or None; h0 (B,H); lengths None or int (B,)
    in [1,T]; reverse bool; nonlinearity 'tanh' or 'relu'. Returns (out (T,B,H), h_n, saved)."""
    x, w_ih, w_hh = np.ascontiguousarray(x), np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    T, B, _ = x.shape
    H, dt = w_hh.shape[1], x.dtype
    lengths, relu = full_lengths(lengths, T, B), nonlinearity == "relu"
    bias = np.zeros(H, dt) if b_ih is None else np.asarray(b_ih + b_hh, dt)
    h = np.array(h0, dt, order="C")
    out = np.empty((T, B, H), dt) if lengths.min() == T else np.zeros((T, B, H), dt)
    bufs = [take((T, B, H), dt), take((T, B, x.shape[2] + H), dt), take((H, H), dt)]
    hw = take((B, H), dt)
    input_projection(x, lengths, bufs[1], w_ih, bufs[0])
    _forward(x, w_hh, bias, h, lengths, bool(reverse), relu, *bufs, out, hw)
    give(hw)
    return out, h, (bufs, w_ih, lengths, bool(reverse), relu, b_ih is not None)


def rnn_backward(saved, d_out, d_hn, need_dx=True):
    """Gradients of a loss given d_out (T,B,H) and d_hn (B,H).
    Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0); db_* are None when the biases were None,
    dx when need_dx is false."""
    bufs, w_ih, lengths, reverse, relu, has_bias = saved
    if not bufs:
        raise RuntimeError("rnn_backward: the saved buffers were already released")
    T, B, H = bufs[0].shape
    dt = w_ih.dtype
    dh = np.array(d_hn, dt, order="C")
    dgates, g, dhw_t = take((T, B, H), dt), take((B, H), dt), take((H, B), dt)
    db = _backward(lengths, reverse, relu, *bufs, np.ascontiguousarray(d_out, dt), dh, dgates, g, dhw_t)
    dx = input_grad(dgates, w_ih, need_dx)
    dw_ih, dw_hh = stacked_grads(dgates, bufs[1], w_ih.shape[1])
    for a in (dgates, g, dhw_t):
        give(a)
    db_ih, db_hh = (db, db.copy()) if has_bias else (None, None)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh


def release(saved):
    """Give the buffers of ``saved`` back to the pool: call once backward will not run again."""
    bufs = saved[0]
    while bufs:
        give(bufs.pop())
