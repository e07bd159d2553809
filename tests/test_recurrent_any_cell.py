"""nn.Recurrent over any cell, and the shipped cells (LayerNormLSTMCell, PeepholeLSTMCell, MGUCell,
IndRNNCell): lengths and reverse semantics against each sequence run alone, agreement with nn.LSTM for
a wrapped LSTMCell, gradient checks, and argument errors. Everything in float64."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from recurrent_table import SHIPPED_CELLS, BuiltinCell, as_tuple, random_state, t64

CELLS = SHIPPED_CELLS


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", list(CELLS))
def test_lengths_match_each_sequence_alone(name, reverse):
    rng = np.random.default_rng(1)
    T, B, I, H = 5, 3, 2, 3
    cell = CELLS[name](I, H)
    layer = nn.Recurrent(cell, reverse=reverse, impl="unrolled")
    x = rng.standard_normal((T, B, I))
    x_padded = x.copy()
    lengths = [5, 2, 4]
    for b, n in enumerate(lengths):
        x_padded[n:, b] = np.nan  # padding must not leak anywhere
    state = random_state(cell, B, rng)
    out, final = layer(t64(x_padded), state, lengths=lengths)
    assert not np.isnan(out.detach().numpy()).any()
    for b, n in enumerate(lengths):
        alone = tuple(s[b:b + 1] for s in as_tuple(state))
        o_b, f_b = layer(t64(x[:n, b:b + 1]), alone if isinstance(state, tuple) else alone[0])
        np.testing.assert_allclose(out.detach().numpy()[:n, b], o_b.detach().numpy()[:, 0], atol=1e-12)
        np.testing.assert_array_equal(out.detach().numpy()[n:, b], 0.0)
        for s, s_b in zip(as_tuple(final), as_tuple(f_b)):
            np.testing.assert_allclose(s.detach().numpy()[b], s_b.detach().numpy()[0], atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_wrapped_lstm_cell_matches_nn_lstm(reverse):
    rng = np.random.default_rng(2)
    T, B, I, H = 6, 3, 3, 4
    cell = BuiltinCell("lstm", I, H)
    lstm = nn.LSTM(I, H, batch_first=True, bidirectional=reverse, dtype=np.float64)
    sfx = "_l0_reverse" if reverse else "_l0"
    with tg.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell.inner, k).copy_(getattr(lstm, k + sfx).detach())
    x = t64(rng.standard_normal((B, T, I)))
    lengths = [6, 3, 1]
    out, (h, c) = nn.Recurrent(cell, batch_first=True, reverse=reverse, impl="unrolled")(x, lengths=lengths)
    ref_out, (h_ref, c_ref) = lstm(x, lengths=lengths)
    d = 1 if reverse else 0
    np.testing.assert_allclose(out.detach().numpy(), ref_out.detach().numpy()[..., d * H:(d + 1) * H], atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy(), h_ref.detach().numpy()[d], atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_ref.detach().numpy()[d], atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_unrolled_layer_gradcheck(name):
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 2, 2, 3
    cell = CELLS[name](I, H)
    layer = nn.Recurrent(cell, reverse=True, impl="unrolled")
    x = t64(rng.standard_normal((T, B, I)), True)
    state = random_state(cell, B, rng, True)

    def fn(x, *args):
        out, final = layer(x, state, lengths=[4, 3])
        return (out, *as_tuple(final))

    tg.gradcheck(fn, (x, *as_tuple(state), *cell.parameters()), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
@pytest.mark.parametrize("name", ["layernorm_lstm", "mgu"])
def test_unbatched_input_runs_as_a_batch_of_one(name, impl):
    """(T, I) input with (H,) states, as nn.LSTM takes it: the same numbers and gradients as the
    (T, 1, I) batch, with the batch dim dropped from the output (T, H) and the final states (H,)."""
    rng = np.random.default_rng(7)
    cell = CELLS[name](3, 4)
    layer = nn.Recurrent(cell, reverse=True, batch_first=True, impl=impl)  # batch_first does not apply
    x = rng.standard_normal((5, 3))
    state = tuple(rng.standard_normal(s) for s in as_tuple(cell.state_size))
    runs = []
    for batched in (False, True):
        xs = t64(x[:, None] if batched else x, True)
        states = tuple(t64(s[None] if batched else s, True) for s in state)
        out, final = layer(xs.transpose(0, 1) if batched else xs,  # batched and batch_first: (B, T, I)
                           states if len(states) > 1 else states[0])
        loss = (out * out).sum() + sum((f * 0.5).sum() for f in as_tuple(final))
        loss.backward()
        runs.append((out.detach().numpy(), [f.detach().numpy() for f in as_tuple(final)],
                     xs.grad.numpy(), [s.grad.numpy() for s in states]))
    (out_u, finals_u, gx_u, gs_u), (out_b, finals_b, gx_b, gs_b) = runs
    assert out_u.shape == (5, 4) and all(f.shape == (s,) for f, s in zip(finals_u, as_tuple(cell.state_size)))
    np.testing.assert_allclose(out_u, out_b[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx_u, gx_b[:, 0], rtol=1e-12, atol=1e-12)
    for a, b in zip(finals_u + gs_u, finals_b + gs_b):
        np.testing.assert_allclose(a, b[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="lengths needs batched input"):
        layer(t64(x), lengths=[5])
    with pytest.raises(ValueError, match=r"state 0 of shape \(4,\)"):
        layer(t64(x), tuple(t64(np.zeros((1, s))) for s in as_tuple(cell.state_size)) if len(state) > 1
              else t64(np.zeros((1, 4))))


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
@pytest.mark.parametrize("name", list(CELLS))
def test_empty_batch_gives_empty_outputs_and_zero_parameter_gradients(name, impl):
    """As nn.LSTM: B = 0 runs (empty output and final states), T = 0 is refused."""
    cell = CELLS[name](2, 3)
    layer = nn.Recurrent(cell, impl=impl)
    x = t64(np.zeros((4, 0, 2)), True)
    out, final = layer(x)
    assert out.shape == (4, 0, 3) and all(s.shape[0] == 0 for s in as_tuple(final))
    (out.sum() + sum(s.sum() for s in as_tuple(final))).backward()
    for p in cell.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    with pytest.raises(ValueError, match="at least one time step"):
        layer(t64(np.zeros((0, 2, 2))))


def test_cell_without_state_size_is_refused():
    with pytest.raises(TypeError, match="state_size"):
        nn.Recurrent(nn.LSTMCell(2, 3))


def test_bad_arguments_name_what_was_expected():
    cell = nn.MGUCell(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="impl"):
        nn.Recurrent(cell, impl="jit")
    with pytest.raises(TypeError, match="cell must be an nn.Module"):
        nn.Recurrent(lambda x, h: h)
    layer = nn.Recurrent(cell, impl="unrolled")
    x = t64(np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match=r"state 0 of shape \(2, 3\)"):
        layer(x, t64(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="a Tensor"):
        layer(x, (t64(np.zeros((2, 3))),))
    with pytest.raises(ValueError, match="lengths must be in"):
        layer(x, lengths=[5, 1])
    with pytest.raises(ValueError, match="3 dims"):
        layer(t64(np.zeros(4)))
    with pytest.raises(TypeError, match="dtype float64 .the cell's weight_ih., got float32"):
        layer(tg.zeros(4, 2, 2, dtype=np.float32))


def test_cell_returning_wrong_shape_is_reported():
    class Bad(nn.Module):
        state_size = 3

        def forward(self, x, h):
            return x

    with pytest.raises(ValueError, match=r"Bad.forward returned states of shapes \[\(2, 2\)\]"):
        nn.Recurrent(Bad(), impl="unrolled")(t64(np.zeros((3, 2, 2))))
