"""One LSTM or GRU cell step as a single graph node: the decoder's hot loop.

A decoder step cannot be a whole-sequence kernel (its next input depends on its attention), and the
composed cell costs ~20 nodes per step. These do the same step (PyTorch's equations and gate layouts,
see nn/cells.py) with four BLAS products forward and backward on NumPy arrays. They are once
differentiable: the composed cells (impl="unrolled") are their oracle and give second derivatives.
Sigmoid is computed as (1 + tanh(a/2)) / 2, finite for any input.
"""
import numpy as np

from ..autograd import Function, once_differentiable

_SECOND_ORDER = ("{}: second derivatives through the fused cell step are not supported; build the decoder "
                 "with impl=\"unrolled\" to differentiate twice (create_graph=True)")


def _sigmoid(a):
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def _array(g, like):
    return np.zeros_like(like) if g is None else g.detach().numpy()


def _weight_grads(ctx, dgates_x, dgates_h, x, h, w_ih, w_hh):
    """(dx, dh, dW_ih, dW_hh, db_ih, db_hh) from the gradients of the two input projections."""
    need = ctx.needs_input_grad
    return (dgates_x @ w_ih if need[0] else None, dgates_h @ w_hh,
            dgates_x.T @ x if need[-4] else None, dgates_h.T @ h if need[-3] else None,
            dgates_x.sum(0) if need[-2] else None, dgates_h.sum(0) if need[-1] else None)


@once_differentiable(_SECOND_ORDER.format("LSTM cell"))
class LSTMCellStep(Function):
    """(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h', c'): gates i|f|g|o of x W_ihᵀ + b_ih + h W_hhᵀ + b_hh."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        H = h.shape[1]
        a = x @ w_ih.T
        a += h @ w_hh.T
        a += b_ih + b_hh
        gates = np.empty_like(a)
        gates[:, :2 * H] = _sigmoid(a[:, :2 * H])
        gates[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        gates[:, 3 * H:] = _sigmoid(a[:, 3 * H:])
        c_new = gates[:, H:2 * H] * c + gates[:, :H] * gates[:, 2 * H:3 * H]
        tc = np.tanh(c_new)
        ctx.arrays = (x, h, c, w_ih, w_hh, gates, tc)
        return gates[:, 3 * H:] * tc, c_new

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        x, h, c, w_ih, w_hh, gates, tc = ctx.arrays
        H = h.shape[1]
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
        dh_new, dc_new = _array(dh_new, h), _array(dc_new, c)
        dc = dc_new + dh_new * o * (1 - tc * tc)
        da = np.empty_like(gates)
        da[:, :H] = dc * g * i * (1 - i)
        da[:, H:2 * H] = dc * c * f * (1 - f)
        da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
        da[:, 3 * H:] = dh_new * tc * o * (1 - o)
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(ctx, da, da, x, h, w_ih, w_hh)
        return dx, dh, dc * f, dw_ih, dw_hh, db_ih, db_hh


@once_differentiable(_SECOND_ORDER.format("GRU cell"))
class GRUCellStep(Function):
    """(x, h, W_ih, W_hh, b_ih, b_hh) -> h': r|z|n with n = tanh(x_n + r (W_hn h + b_hn))."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        H = h.shape[1]
        xp = x @ w_ih.T + b_ih
        hp = h @ w_hh.T + b_hh
        rz = _sigmoid(xp[:, :2 * H] + hp[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
        ctx.arrays = (x, h, w_ih, w_hh, rz, n, hp[:, 2 * H:])
        return n + z * (h - n)

    @staticmethod
    def backward(ctx, dh_new):
        x, h, w_ih, w_hh, rz, n, hn = ctx.arrays
        H = h.shape[1]
        r, z = rz[:, :H], rz[:, H:]
        dh_new = _array(dh_new, h)
        dan = dh_new * (1 - z) * (1 - n * n)
        dxp = np.empty((len(h), 3 * H), h.dtype)
        dxp[:, :H] = dan * hn * r * (1 - r)
        dxp[:, H:2 * H] = dh_new * (h - n) * z * (1 - z)
        dxp[:, 2 * H:] = dan
        dhp = dxp.copy()
        dhp[:, 2 * H:] *= r
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(ctx, dxp, dhp, x, h, w_ih, w_hh)
        return dx, dh + dh_new * z, dw_ih, dw_hh, db_ih, db_hh


def lstm_cell_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    return LSTMCellStep.apply(x, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell_step(x, h, w_ih, w_hh, b_ih, b_hh):
    return GRUCellStep.apply(x, h, w_ih, w_hh, b_ih, b_hh)
