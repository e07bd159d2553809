"""RNNCell, LSTMCell and GRUCell: forward against NumPy formulas, gradients against finite differences.

Every cell (RNN tanh/relu, LSTM, GRU) is checked batched and unbatched, with and without bias and
with and without a given state, w.r.t. every parameter, the input and the state(s) (full Jacobian,
float64), and its backward pass is itself checked (gradgradcheck).
"""
import itertools

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import autograd

from tinygrad_rnn.nn import GRUCell

from recurrent_table import (GATES, KINDS, at_edge, cell_arrays, cfg, edge_cases, make_cell, n_states, pack_hx,
                             ref_cell, t64)

I, H, B = 3, 2, 2
ATOL, RTOL = 1e-8, 1e-6  # central differences in float64 are good to ~1e-10 here
EDGE_SIZES = {edge: at_edge(cfg(B=B, I=I, H=H), edge) for edge in edge_cases(cfg())}


def cell_inputs(kind, batched, with_hx, seed=0, sizes=(B, I, H)):
    """x and the state argument (None, a tensor or an (h, c) tuple) and the list of state tensors."""
    b, i, h = sizes
    x, states = cell_arrays(kind, b if batched else None, i, h, np.random.default_rng(seed), with_hx)
    states = [t64(s, True) for s in states]
    return t64(x, True), pack_hx(kind, states), states


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


# --- forward ----------------------------------------------------------------------------------------
def assert_cell_matches_numpy(kind, bias, with_hx, sizes=(B, I, H)):
    b, i, h = sizes
    cell = make_cell(kind, i, h, bias=bias)
    if bias:  # biases large enough to matter
        for p in (cell.bias_ih, cell.bias_hh):
            p._data[...] = np.random.default_rng(1).standard_normal(p.shape)
    x, hx, states = cell_inputs(kind, True, with_hx, sizes=sizes)
    got = as_tuple(cell(x, hx))
    want = ref_cell(kind, cell, x._data, pack_hx(kind, [s._data for s in states]))
    assert len(got) == len(want) == n_states(kind)
    for g, w in zip(got, want):
        assert g.shape == (b, h) and g.dtype == np.float64
        np.testing.assert_allclose(g._data, w, rtol=1e-13, atol=1e-14)
    if kind == "rnn_relu":
        assert (got[0]._data >= 0).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cell_forward_matches_numpy_reference(kind, bias, with_hx):
    assert_cell_matches_numpy(kind, bias, with_hx)


@pytest.mark.parametrize("edge", list(EDGE_SIZES))
@pytest.mark.parametrize("kind", KINDS)
def test_cell_forward_matches_numpy_reference_at_edges(kind, edge):
    c = EDGE_SIZES[edge]
    assert_cell_matches_numpy(kind, True, True, (c["B"], c["I"], c["H"]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_hx", [True, False])
def test_unbatched_cell_equals_batch_of_one(kind, with_hx):
    cell = make_cell(kind, I, H)
    x, hx, states = cell_inputs(kind, False, with_hx)
    got = as_tuple(cell(x, hx))
    x1 = x.unsqueeze(0)
    hx1 = pack_hx(kind, [s.unsqueeze(0) for s in states])
    want = as_tuple(cell(x1, hx1))
    for g, w in zip(got, want):
        assert g.shape == (H,)
        np.testing.assert_array_equal(g._data, w._data[0])


@pytest.mark.parametrize("kind", KINDS)
def test_missing_state_means_zeros(kind):
    cell = make_cell(kind, I, H)
    x, _, _ = cell_inputs(kind, True, False)
    zeros = t64(np.zeros((B, H)))
    hx = pack_hx(kind, [zeros, zeros])
    for g, w in zip(as_tuple(cell(x)), as_tuple(cell(x, hx))):
        np.testing.assert_array_equal(g._data, w._data)


def test_cell_parameter_names_and_shapes():
    for kind in KINDS:
        gates = GATES[kind]
        cell = make_cell(kind, input_size=5, hidden_size=7)
        assert [(n, p.shape) for n, p in cell.named_parameters()] == [
            ("weight_ih", (gates * 7, 5)), ("weight_hh", (gates * 7, 7)),
            ("bias_ih", (gates * 7,)), ("bias_hh", (gates * 7,))]
        nobias = make_cell(kind, input_size=5, hidden_size=7, bias=False)
        assert [n for n, _ in nobias.named_parameters()] == ["weight_ih", "weight_hh"]


def test_cell_init_bounds_and_dtype(default_dtype):
    cell = make_cell("lstm", input_size=4, hidden_size=16)
    for p in cell.parameters():
        assert p.dtype == np.float64 and p.requires_grad
        assert np.abs(p._data).max() <= 0.25 and np.abs(p._data).max() > 0.2
    default_dtype(np.float32)
    assert GRUCell(2, 3).weight_ih.dtype == np.float32


# --- gradients --------------------------------------------------------------------------------------
CASES = list(itertools.product(KINDS, [True, False], [True, False], [True, False]))


@pytest.mark.parametrize("kind,batched,bias,with_hx", CASES,
                         ids=[f"{k}-{'batched' if b else 'unbatched'}-{'bias' if bi else 'nobias'}-"
                              f"{'hx' if h else 'nohx'}" for k, b, bi, h in CASES])
def test_cell_gradcheck_full(kind, batched, bias, with_hx):
    assert_cell_gradcheck(kind, batched, bias, with_hx)


@pytest.mark.parametrize("edge", list(EDGE_SIZES))
@pytest.mark.parametrize("kind", KINDS)
def test_cell_gradcheck_at_edges(kind, edge):
    c = EDGE_SIZES[edge]
    assert_cell_gradcheck(kind, True, True, True, (c["B"], c["I"], c["H"]))


def assert_cell_gradcheck(kind, batched, bias, with_hx, sizes=(B, I, H)):
    """Full Jacobian w.r.t. input, state(s) and parameters; every one of them receives a gradient."""
    cell = make_cell(kind, sizes[1], sizes[2], bias=bias)
    x, hx, states = cell_inputs(kind, batched, with_hx, seed=3, sizes=sizes)
    params = list(cell.parameters())
    assert len(params) == (4 if bias else 2)

    def fn(*args):
        return cell(x, hx)

    assert tg.gradcheck(fn, [x, *states, *params], atol=ATOL, rtol=RTOL, mode="full")
    # every differentiable input actually receives a gradient of the right shape
    outs = as_tuple(fn())
    grads = autograd.grad(list(outs), [x, *states, *params], [t64(np.ones(o.shape)) for o in outs])
    for g, t in zip(grads, [x, *states, *params]):
        assert g.shape == t.shape
        if (t is cell.weight_hh and not with_hx) or x.numel() == 0:  # h = 0 or nothing in the batch:
            np.testing.assert_array_equal(g._data, 0.0)  # W_hh h contributes nothing, nor gets anything
        else:
            assert np.abs(g._data).sum() > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_gradgradcheck(kind, batched, bias):
    cell = make_cell(kind, input_size=2, hidden_size=2, bias=bias)
    x, hx, states = cell_inputs(kind, batched, True, seed=5, sizes=(2, 2, 2))

    def fn(*args):
        return cell(x, hx)

    assert tg.gradgradcheck(fn, [x, *states, *cell.parameters()], atol=ATOL, rtol=RTOL, mode="full")


def _function_class(out, fragment):
    """The Function class of the first node in out's graph whose name contains fragment."""
    stack, seen = [out._ctx], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if fragment in node.fn.__name__.lower():
            return node.fn
        stack += [t._ctx for t in node.inputs if isinstance(t, tg.Tensor) and t._ctx is not None]
    raise AssertionError(f"no {fragment} node in the graph")


def test_cell_gradcheck_detects_a_wrong_gradient(monkeypatch):
    """The checks above can fail: a sigmoid whose backward is off by 1e-4 relative is caught."""
    cell = make_cell("gru", I, H)
    x, hx, states = cell_inputs("gru", True, True)
    fn_cls = _function_class(cell(x, hx), "sigmoid")
    original = fn_cls.backward

    def wrong(ctx, *grads):
        return tuple(None if g is None else g * 1.0001 for g in as_tuple(original(ctx, *grads)))

    monkeypatch.setattr(fn_cls, "backward", staticmethod(wrong))
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(lambda *a: cell(x, hx), [x, *states, *cell.parameters()], atol=ATOL, rtol=RTOL)
