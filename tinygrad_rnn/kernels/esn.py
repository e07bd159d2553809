"""Echo state network reservoir: the leaky-integrator update over a whole sequence in one call.

    x(t) = (1 - a) x(t-1) + a tanh(drive(t) + W x(t-1) + W_fb y(t-1))

drive(t) = W_in u(t) + bias (+ noise) is computed for all steps before the loop, as the recurrent
kernels do with their input projection. `reservoir_states` is teacher forced (y(t-1) given);
`reservoir_generate` runs free: y(t) = W_out_x x(t) + readout_drive(t) is computed in the loop and
fed back. Weights come transposed (w_t = Wᵀ), so each step is one (B, N) x (N, N) product.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _leaky_tanh(x, pre, leak):
    """x <- (1 - leak) x + leak tanh(pre), in place, for 2-D x and pre."""
    B, N = x.shape
    keep = 1.0 - leak
    for b in range(B):
        for j in range(N):
            x[b, j] = keep * x[b, j] + leak * math.tanh(pre[b, j])


@njit(cache=True, error_model="numpy")
def reservoir_states(drive, w_t, feedback, w_fb_t, x0, leak, states):
    """states[t] = x(t) for t < T, teacher forced: feedback[t] is y(t-1), (T, B, O) with O >= 0.

    drive (T, B, N), w_t (N, N), w_fb_t (O, N), x0 (B, N); states (T, B, N) is written.
    """
    T = drive.shape[0]
    x = x0.copy()
    pre = np.empty_like(x)
    fb = np.empty_like(x)
    use_feedback = feedback.shape[2] > 0
    for t in range(T):
        np.dot(x, w_t, pre)
        pre += drive[t]
        if use_feedback:
            np.dot(feedback[t], w_fb_t, fb)
            pre += fb
        _leaky_tanh(x, pre, leak)
        states[t] = x


@njit(cache=True, error_model="numpy")
def reservoir_generate(drive, w_t, w_fb_t, w_out_x_t, readout_drive, x0, y0, leak, states, outputs):
    """Free run: x(t) from y(t-1) fed back, then y(t) = x(t) W_out_xᵀ + readout_drive[t].

    w_out_x_t (N, O), readout_drive (T, B, O) (the readout's input part and bias), y0 (B, O) = y(-1);
    states (T, B, N) and outputs (T, B, O) are written.
    """
    T = drive.shape[0]
    x = x0.copy()
    y = y0.copy()
    pre = np.empty_like(x)
    fb = np.empty_like(x)
    use_feedback = w_fb_t.shape[0] > 0
    for t in range(T):
        np.dot(x, w_t, pre)
        pre += drive[t]
        if use_feedback:
            np.dot(y, w_fb_t, fb)
            pre += fb
        _leaky_tanh(x, pre, leak)
        states[t] = x
        np.dot(x, w_out_x_t, y)
        y += readout_drive[t]
        outputs[t] = y
