"""Fused recurrent sequences: one Function per layer and direction, time loop inside numba kernels.

Forward and back-propagation through time each run as one kernel call over the whole sequence (the
cuDNN idea, on the CPU). These are once differentiable: their backward is a kernel on arrays, so a
second derivative through them is refused with a pointer to impl="unrolled", which builds the same
computation from primitive ops and is their oracle.
"""
import numpy as np

from ..autograd import Function, once_differentiable
from ..blas_threads import joined, row_parts, run_parts, total
from ..kernels import elman, gru, lstm

_SECOND_ORDER = ("{}: second derivatives through the fused recurrent kernel are not supported; build the "
                 "layer with impl=\"unrolled\" to differentiate twice (create_graph=True)")


def _run_forward(ctx, width, kernel, release, batch):
    """kernel(rows) -> (out, *final states, saved) on the batch's row parts side by side, joined:
    out along the batch axis (1), the states along theirs (0). The saved buffers of every part go
    back to the pool once the graph lets go of this node."""
    ctx.parts, ctx.step_width = row_parts(batch, width), width
    results = run_parts(ctx.parts, width, kernel)
    saved = ctx.kernel_saved = [r[-1] for r in results]
    ctx.call_on_free(lambda: [release(s) for s in saved])
    return joined([r[:-1] for r in results], [1] + [0] * (len(results[0]) - 2))


def _run_backward(ctx, kernel, d_out, *d_states):
    """kernel(saved, d_out, *d_states, need_dx) -> (dx, dW_ih, dW_hh, db_ih, db_hh, *d initial
    states) per part, joined: dx along axis 1 (None when x needs no gradient), the parameters'
    gradients summed, the states' along axis 0."""
    d_out, d_states = d_out._data, [d._data for d in d_states]
    need_dx = ctx.needs_input_grad[0]
    results = run_parts(ctx.parts, ctx.step_width, lambda rows, saved: kernel(
        saved, d_out[:, rows], *[d[rows] for d in d_states], need_dx=need_dx), ctx.kernel_saved)
    d_initial = joined([r[5:] for r in results], [0] * len(d_states))
    dx = joined([r[:1] for r in results], [1])[0] if need_dx else None
    return (dx, *d_initial), [total([r[k] for r in results]) for k in range(1, 5)]


@once_differentiable(_SECOND_ORDER.format("LSTM"))
class LSTMSequence(Function):
    """(x, h0, c0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n, c_n) for one LSTM layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        return tuple(_run_forward(ctx, w_hh.size, lambda rows: lstm.lstm_forward(
            x[:, rows], w_ih, w_hh, b_ih, b_hh, h0[rows], c0[rows], _rows(lengths, rows), reverse),
            lstm.release, x.shape[1]))

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):
        (dx, dh0, dc0), (dw_ih, dw_hh, db_ih, db_hh) = _run_backward(ctx, lstm.lstm_backward, d_out, d_hn, d_cn)
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, None, None


@once_differentiable(_SECOND_ORDER.format("GRU"))
class GRUSequence(Function):
    """(x, h0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n) for one GRU layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        return tuple(_run_forward(ctx, w_hh.size, lambda rows: gru.gru_forward(
            x[:, rows], w_ih, w_hh, b_ih, b_hh, h0[rows], _rows(lengths, rows), reverse), gru.release, x.shape[1]))

    @staticmethod
    def backward(ctx, d_out, d_hn):
        (dx, dh0), (dw_ih, dw_hh, db_ih, db_hh) = _run_backward(ctx, gru.gru_backward, d_out, d_hn)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None


@once_differentiable(_SECOND_ORDER.format("RNN"))
class RNNSequence(Function):
    """(x, h0, W_ih, W_hh, b_ih, b_hh) -> (out, h_n) for one tanh/relu RNN layer and direction."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity):
        return tuple(_run_forward(ctx, w_hh.size, lambda rows: elman.rnn_forward(
            x[:, rows], w_ih, w_hh, b_ih, b_hh, h0[rows], _rows(lengths, rows), reverse, nonlinearity),
            elman.release, x.shape[1]))

    @staticmethod
    def backward(ctx, d_out, d_hn):
        (dx, dh0), (dw_ih, dw_hh, db_ih, db_hh) = _run_backward(ctx, elman.rnn_backward, d_out, d_hn)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def _rows(lengths, rows):
    return None if lengths is None else lengths[rows]


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    return LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse)


def gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    return GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse)


def rnn_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False, nonlinearity="tanh"):
    return RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), reverse, nonlinearity)


def _lengths(lengths):
    return None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
