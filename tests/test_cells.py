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

from tinygrad_rnn.nn import GRUCell, LSTMCell, RNNCell

I, H, B = 3, 2, 2
ATOL, RTOL = 1e-8, 1e-6  # central differences in float64 are good to ~1e-10 here
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make_cell(kind, input_size=I, hidden_size=H, bias=True):
    if kind.startswith("rnn"):
        return RNNCell(input_size, hidden_size, bias=bias, nonlinearity=kind[4:], dtype=np.float64)
    return {"lstm": LSTMCell, "gru": GRUCell}[kind](input_size, hidden_size, bias=bias, dtype=np.float64)


def t64(a, requires_grad=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=np.float64, requires_grad=requires_grad)


def cell_inputs(kind, batched, with_hx, seed=0):
    """x and the state argument (None, a tensor or an (h, c) tuple) and the list of state tensors."""
    rng = np.random.default_rng(seed)
    lead = (B,) if batched else ()
    x = t64(rng.standard_normal(lead + (I,)), True)
    if not with_hx:
        return x, None, []
    states = [t64(rng.standard_normal(lead + (H,)), True) for _ in range(2 if kind == "lstm" else 1)]
    return x, (tuple(states) if kind == "lstm" else states[0]), states


# --- NumPy references -------------------------------------------------------------------------------
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_cell(kind, cell, x, hx):
    """The PyTorch equations on arrays; x (B, I), hx None or arrays (B, H)."""
    w_ih, w_hh = cell.weight_ih._data, cell.weight_hh._data
    b_ih = cell.bias_ih._data if cell.bias else 0.0
    b_hh = cell.bias_hh._data if cell.bias else 0.0
    zeros = np.zeros((x.shape[0], cell.hidden_size))
    h = zeros if hx is None else (hx[0] if kind == "lstm" else hx)
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if kind == "rnn_tanh":
        return np.tanh(gi + gh)
    if kind == "rnn_relu":
        return np.maximum(gi + gh, 0.0)
    Hs = cell.hidden_size
    if kind == "lstm":
        c = zeros if hx is None else hx[1]
        a = gi + gh
        i, f, g, o = sigmoid(a[:, :Hs]), sigmoid(a[:, Hs:2 * Hs]), np.tanh(a[:, 2 * Hs:3 * Hs]), sigmoid(a[:, 3 * Hs:])
        c = f * c + i * g
        return o * np.tanh(c), c
    r = sigmoid(gi[:, :Hs] + gh[:, :Hs])
    z = sigmoid(gi[:, Hs:2 * Hs] + gh[:, Hs:2 * Hs])
    n = np.tanh(gi[:, 2 * Hs:] + r * gh[:, 2 * Hs:])
    return (1 - z) * n + z * h


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


# --- forward ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cell_forward_matches_numpy_reference(kind, bias, with_hx):
    cell = make_cell(kind, bias=bias)
    if bias:  # biases large enough to matter
        for p in (cell.bias_ih, cell.bias_hh):
            p._data[...] = np.random.default_rng(1).standard_normal(p.shape)
    x, hx, states = cell_inputs(kind, True, with_hx)
    got = as_tuple(cell(x, hx))
    ref_hx = None if not with_hx else (tuple(s._data for s in states) if kind == "lstm" else states[0]._data)
    want = as_tuple(reference_cell(kind, cell, x._data, ref_hx))
    assert len(got) == len(want) == (2 if kind == "lstm" else 1)
    for g, w in zip(got, want):
        assert g.shape == (B, H) and g.dtype == np.float64
        np.testing.assert_allclose(g._data, w, rtol=1e-13, atol=1e-14)
    if kind == "rnn_relu":
        assert (got[0]._data >= 0).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_hx", [True, False])
def test_unbatched_cell_equals_batch_of_one(kind, with_hx):
    cell = make_cell(kind)
    x, hx, states = cell_inputs(kind, False, with_hx)
    got = as_tuple(cell(x, hx))
    x1 = x.unsqueeze(0)
    hx1 = None if not with_hx else (tuple(s.unsqueeze(0) for s in states) if kind == "lstm"
                                    else states[0].unsqueeze(0))
    want = as_tuple(cell(x1, hx1))
    for g, w in zip(got, want):
        assert g.shape == (H,)
        np.testing.assert_array_equal(g._data, w._data[0])


@pytest.mark.parametrize("kind", KINDS)
def test_missing_state_means_zeros(kind):
    cell = make_cell(kind)
    x, _, _ = cell_inputs(kind, True, False)
    zeros = t64(np.zeros((B, H)))
    hx = (zeros, zeros) if kind == "lstm" else zeros
    for g, w in zip(as_tuple(cell(x)), as_tuple(cell(x, hx))):
        np.testing.assert_array_equal(g._data, w._data)


def test_cell_parameter_names_and_shapes():
    for kind, gates in (("rnn_tanh", 1), ("lstm", 4), ("gru", 3)):
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
    cell = make_cell(kind, bias=bias)
    x, hx, states = cell_inputs(kind, batched, with_hx, seed=3)
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
        if t is cell.weight_hh and not with_hx:  # h = 0: W_hh h contributes nothing, nor gets anything
            np.testing.assert_array_equal(g._data, 0.0)
        else:
            assert np.abs(g._data).sum() > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_gradgradcheck(kind, batched, bias):
    cell = make_cell(kind, input_size=2, hidden_size=2, bias=bias)
    rng = np.random.default_rng(5)
    lead = (2,) if batched else ()
    x = t64(rng.standard_normal(lead + (2,)), True)
    states = [t64(rng.standard_normal(lead + (2,)), True) for _ in range(2 if kind == "lstm" else 1)]
    hx = tuple(states) if kind == "lstm" else states[0]

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
    cell = make_cell("gru")
    x, hx, states = cell_inputs("gru", True, True)
    fn_cls = _function_class(cell(x, hx), "sigmoid")
    original = fn_cls.backward

    def wrong(ctx, *grads):
        return tuple(None if g is None else g * 1.0001 for g in as_tuple(original(ctx, *grads)))

    monkeypatch.setattr(fn_cls, "backward", staticmethod(wrong))
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(lambda *a: cell(x, hx), [x, *states, *cell.parameters()], atol=ATOL, rtol=RTOL)
