"""The one-node LSTM/GRU cell steps against the composed nn.LSTMCell/GRUCell: outputs and every
gradient in float64, finite differences, large inputs, and the refusal of second derivatives."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.ops.cell_step import gru_cell_step, lstm_cell_step

from recurrent_table import cell_arrays, make_cell, pack_hx, states_list, t64

B, I, H = 3, 4, 5


def setup(kind, scale=1.0, seed=0):
    cell = make_cell(kind, I, H)
    x, states = cell_arrays(kind, B, I, H, np.random.default_rng(seed))
    return cell, t64(scale * x, True), [t64(s, True) for s in states]


def fused(kind, cell, x, states):
    params = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    return lstm_cell_step(x, *states, *params) if kind == "lstm" else (gru_cell_step(x, *states, *params),)


def composed(kind, cell, x, states):
    return tuple(states_list(kind, cell(x, pack_hx(kind, states))))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_matches_the_composed_cell(kind):
    cell, x, states = setup(kind)
    inputs = [x, *states, *cell.parameters()]
    results = []
    for run in (fused, composed):
        outs = run(kind, cell, x, states)
        upstream = [tg.tensor(np.linspace(-1, 2, o.numel()).reshape(o.shape)) for o in outs]
        grads = tg.autograd.grad(list(outs), inputs, upstream)
        results.append([o.detach().numpy() for o in outs] + [g.numpy() for g in grads])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradcheck_and_second_order_refusal(kind):
    cell, x, states = setup(kind, seed=1)
    inputs = [x, *states, *cell.parameters()]
    assert tg.gradcheck(lambda x, *rest: fused(kind, cell, x, list(rest[:len(states)])), inputs,
                        atol=1e-8, rtol=1e-6)
    with pytest.raises(RuntimeError, match='impl="unrolled"'):
        tg.autograd.grad(fused(kind, cell, x, states)[0].sum(), [x], create_graph=True)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_finite_for_huge_inputs(kind):
    cell, x, states = setup(kind, scale=1e4)
    outs = fused(kind, cell.float(), x.float(), [s.float() for s in states])
    assert all(np.isfinite(o.detach().numpy()).all() for o in outs)
