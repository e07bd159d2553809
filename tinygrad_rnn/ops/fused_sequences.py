"""Fused recurrent sequences: one Function per layer and direction, time loop inside numba kernels.

Forward and back-propagation through time each run as one kernel call over the whole sequence (the
cuDNN idea, on the CPU). These are once differentiable: their backward is a kernel on arrays, so a
second derivative through them is refused with a pointer to impl="unrolled", which builds the same
computation from primitive ops and is their oracle.
"""
import numpy as np

from ..autograd import Function, once_differentiable
from ..blas_threads import sequence_kernel
from ..kernels import elman, gru, lstm

_SECOND_ORDER = ("{}: second derivatives through the fused recurrent kernel are not supported; build the "
                 "layer with impl=\"unrolled\" to differentiate twice (create_graph=True)")


def _keep_until_freed(ctx, saved, release):
    ctx.kernel_saved = saved
    ctx.call_on_free(lambda: release(saved))


@once_differentiable(_SECOND_ORDER.format("LSTM"))
class LSTMSequence(Function):
    """(x, h0, c0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n, c_n) for one LSTM layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        with sequence_kernel(x.shape[1], w_hh.size):
            out, h_n, c_n, saved = lstm.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse)
        ctx.step_width = w_hh.size
        _keep_until_freed(ctx, saved, lstm.release)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):
        with sequence_kernel(d_out.shape[1], ctx.step_width):
            dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 = lstm.lstm_backward(
                ctx.kernel_saved, d_out._data, d_hn._data, d_cn._data)
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, None, None


@once_differentiable(_SECOND_ORDER.format("GRU"))
class GRUSequence(Function):
    """(x, h0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n) for one GRU layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        with sequence_kernel(x.shape[1], w_hh.size):
            out, h_n, saved = gru.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse)
        ctx.step_width = w_hh.size
        _keep_until_freed(ctx, saved, gru.release)
        return out, h_n

    @staticmethod
    def backward(ctx, d_out, d_hn):
        with sequence_kernel(d_out.shape[1], ctx.step_width):
            dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = gru.gru_backward(ctx.kernel_saved, d_out._data, d_hn._data)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None


@once_differentiable(_SECOND_ORDER.format("RNN"))
class RNNSequence(Function):
    """(x, h0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n) for one tanh/relu RNN layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity):
        with sequence_kernel(x.shape[1], w_hh.size):
            out, h_n, saved = elman.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse, nonlinearity)
        ctx.step_width = w_hh.size
        _keep_until_freed(ctx, saved, elman.release)
        return out, h_n

    @staticmethod
    def backward(ctx, d_out, d_hn):
        with sequence_kernel(d_out.shape[1], ctx.step_width):
            dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = elman.rnn_backward(ctx.kernel_saved, d_out._data, d_hn._data)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    return LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse)


def gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    return GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse)


def rnn_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False, nonlinearity="tanh"):
    return RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse, nonlinearity)


def _lengths(lengths):
    return None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
