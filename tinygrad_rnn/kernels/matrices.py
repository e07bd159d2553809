"""Pieces every hand-written sequence kernel (Elman RNN, LSTM, GRU) shares.

Every product here runs in numba, so in SciPy's BLAS: a recurrent layer's products, per-step or not,
all use that one thread pool, and NumPy's stays asleep (see blas_threads for why it matters).

The layout they serve: the input projection of all T*B rows is one product before the time loop;
each step is one (B, H) x (H, G) product (G = H, 3H or 4H) plus short elementwise loops; the
backward pass writes the pre-activation gradients of every position into one (T, B, G) buffer and,
after the loop, gets dx from it with one product and [dW_ih | dW_hh] with another. Each step's
hidden-state gradient is computed transposed, dh^T = W_hh^T g^T, which OpenBLAS runs faster
than g W_hh at B >= 32, H >= 128 (at small sizes the two differ by under a microsecond).

Row b of a padded batch reads position t = s (forward) or t = lengths[b]-1-s (reverse) at step s,
is active while s < lengths[b], and otherwise keeps its state; padded positions get zero output
and zero gradient.
"""
import numpy as np
from numba import njit


def full_lengths(lengths, T, B):
    """lengths as a fresh int64 (B,) array; None means every row has length T."""
    return np.full(B, T, np.int64) if lengths is None else np.array(lengths, np.int64).reshape(B)


@njit(cache=True, error_model="numpy", nogil=True)
def transpose_into(a, out):
    """out[:] = a.T, 16 rows of a at a time (faster than np.copyto(out, a.T) on large weights)."""
    n, m = a.shape
    for i0 in range(0, n, 16):
        for j in range(m):
            for i in range(i0, min(i0 + 16, n)):
                out[j, i] = a[i, j]


@njit(cache=True, error_model="numpy", nogil=True)
def copy_inputs(x, lengths, xh):
    """xh[t, b, :I] = x[t, b] where t < lengths[b]; padded positions of xh become all zero, so that
    whatever x holds there (even NaN) contributes nothing to the weight gradients."""
    T, B, I = x.shape
    for t in range(T):
        for b in range(B):
            xr, xhr = x[t, b], xh[t, b]
            if t < lengths[b]:
                for k in range(I):
                    xhr[k] = xr[k]
            else:
                xhr[:] = 0


@njit(cache=True, error_model="numpy", nogil=True)
def input_projection(x, lengths, inputs, w_ih, out):
    """Copy x into the saved `inputs` buffer (zero at padded positions, so that whatever padding x
    holds, NaN included, reaches no weight gradient), then out (T, B, G) = x W_ih^T for all T*B rows
    at once (padded rows are computed but never read)."""
    T, B, I = x.shape
    copy_inputs(x, lengths, inputs)
    np.dot(x.reshape(T * B, I), w_ih.T, out.reshape(T * B, out.shape[2]))


@njit(cache=True, error_model="numpy", nogil=True)
def stacked_grads(dgates, xh, I):
    """[dW_ih | dW_hh] = D^T [X | H_prev] as one product, with D the (T*B, G) pre-activation
    gradients (zero at padded positions) and [X | H_prev] the saved xh (I columns of x)."""
    T, B, G = dgates.shape
    dw = np.dot(dgates.reshape(T * B, G).T, xh.reshape(T * B, xh.shape[2]))
    return dw[:, :I].copy(), dw[:, I:].copy()


def input_grad(dgates, w_ih, needed):
    """dx = D W_ih (T, B, I) for the pre-activation gradients D, or None when x needs no gradient
    (as PyTorch's autograd skips it: for a data batch it is the largest product not needed)."""
    if not needed:
        return None
    T, B, G = dgates.shape
    return dot(dgates.reshape(T * B, G), w_ih).reshape(T, B, w_ih.shape[1])


@njit(cache=True, error_model="numpy", nogil=True)
def dot(a, b):
    """a b for 2-D contiguous (or transposed contiguous) arrays, by the BLAS the kernels use."""
    return np.dot(a, b)


@njit(cache=True, error_model="numpy", nogil=True)
def previous_state_grads(w_hh_t, gs, dhw_t, dh, lengths, s):
    """dh[b] = (W_hh^T gs^T)[:, b] for the rows active at step s: the gradient reaching the state
    before the step (dhw_t (H, B) is scratch; W_hh^T g^T runs faster in OpenBLAS than g W_hh)."""
    np.dot(w_hh_t, gs.T, dhw_t)
    for b in range(gs.shape[0]):
        if s < lengths[b]:
            dhb = dh[b]
            for j in range(dhb.shape[0]):
                dhb[j] = dhw_t[j, b]
