"""Misuse of recurrent layers and cells: each raises the documented exception (ValueError for shapes
and values, TypeError for types) with a message naming the argument, what was expected and what came,
and a failed call leaves every parameter and gradient exactly as it was."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn import GRU, LSTM, LSTMCell, RNN, RNNCell
from tinygrad_rnn.tensor import ShapeError

from recurrent_table import CELL_CLASSES as CELLS, IMPLS, LAYER_CLASSES as LAYERS, SHIPPED_CELLS, kind_of, pack_hx

I, H, L, T, B = 32, 4, 2, 5, 3


def z(*shape, dtype=np.float64):
    return tg.zeros(*shape, dtype=dtype)


def snapshot(module):
    return {n: (p._data.copy(), None if p.grad is None else p.grad._data.copy()) for n, p in module.named_parameters()}


def used(module, x):
    """Run module once forward and backward, so that its parameters have a .grad to protect."""
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    out.sum().backward()
    return module


def assert_unchanged(module, before):
    after = snapshot(module)
    assert before.keys() == after.keys()
    for n in before:  # nothing a failed call did is visible
        np.testing.assert_array_equal(after[n][0], before[n][0], err_msg=n)
        np.testing.assert_array_equal(after[n][1], before[n][1], err_msg=n)


@pytest.fixture(params=[(n, impl) for n in LAYERS for impl in IMPLS], ids=lambda p: f"{p[0]}-{p[1]}")
def layer(request):
    """A used float64 two-layer bidirectional layer; afterwards, checks that its parameters and
    gradients are exactly as they were."""
    name, impl = request.param
    m = used(LAYERS[name](I, H, num_layers=L, bidirectional=True, impl=impl, dtype=np.float64),
             tg.randn(T, B, I, dtype=np.float64))
    before = snapshot(m)
    yield name, m
    assert_unchanged(m, before)


def raises(exc, *fragments):
    """pytest.raises matching every fragment (literally) in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


# --- input --------------------------------------------------------------------------------------
def test_wrong_feature_size(layer):
    name, m = layer
    with raises(ValueError, f"{name} expected input of size 32 in its last dim, got shape (5, 3, 16)"):
        m(z(T, B, 16))
    with raises(ValueError, "input", "32", "(5, 33)"):  # unbatched
        m(z(T, 33))


@pytest.mark.parametrize("name", list(SHIPPED_CELLS))
@pytest.mark.parametrize("impl", IMPLS)
def test_a_shipped_cell_given_the_wrong_input_size_names_both(name, impl):
    """nn.Recurrent over a shipped cell whose input has 5 features where the cell takes 3: the
    ShapeError names the size expected and the shape given, and no parameter gets a gradient."""
    cell = SHIPPED_CELLS[name](3, 4)
    with raises(ShapeError, "expected input of size 3", "(2, 5)"):
        tg.nn.Recurrent(cell, impl=impl)(tg.tensor(np.ones((6, 2, 5))))
    assert all(p.grad is None for p in cell.parameters())


@pytest.mark.parametrize("shape", [(2, T, B, I), (I,)])
def test_wrong_input_rank(layer, shape):
    name, m = layer
    with raises(ValueError, name, "input", "(T, I)", str(shape)):
        m(z(*shape))


def test_float32_input_into_float64_module(layer):
    name, m = layer
    with raises(TypeError, name, "input", "float64", "float32"):
        m(z(T, B, I, dtype=np.float32))
    with raises(TypeError, name, "h0", "float64", "float32"):
        m(z(T, B, I), pack_hx(kind_of(m), [z(2 * L, B, H, dtype=np.float32), z(2 * L, B, H)]))


def test_input_must_be_a_tensor(layer):
    name, m = layer
    with raises(TypeError, name, "input", "Tensor", "ndarray"):
        m(np.zeros((T, B, I)))


# --- initial states ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [(L, B, H), (2 * L, B + 1, H), (2 * L, B, H + 1), (2 * L, H), (B, H)])
def test_wrong_h0_shape(layer, bad):
    name, m = layer
    good = z(2 * L, B, H)
    with raises(ValueError, name, "h0", str(bad)):
        m(z(T, B, I), pack_hx(kind_of(m), [z(*bad), good]))
    if bad[-1] == H:  # right size, wrong shape: the expected shape is in the message
        with raises(ValueError, f"expected h0 of shape {(2 * L, B, H)}, got {bad}"):
            m(z(T, B, I), pack_hx(kind_of(m), [z(*bad), good]))


def test_wrong_h0_shape_unbatched(layer):
    name, m = layer
    with raises(ValueError, name, f"expected h0 of shape {(2 * L, H)}, got {(2 * L, 1, H)}"):
        m(z(T, I), pack_hx(kind_of(m), [z(2 * L, 1, H), z(2 * L, H)]))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bad", [(L, B, H), (2 * L, B, H + 2), (2 * L, 1, H)])
def test_wrong_c0_shape(impl, bad):
    m = used(LSTM(I, H, num_layers=L, bidirectional=True, impl=impl, dtype=np.float64), z(T, B, I) + 1)
    before = snapshot(m)
    with raises(ValueError, "LSTM", "c0", str(bad)):
        m(z(T, B, I), (z(2 * L, B, H), z(*bad)))
    assert_unchanged(m, before)


def test_lstm_state_must_be_a_pair(layer):
    name, m = layer
    if name != "LSTM":
        with raises(TypeError, name, "h0", "Tensor", "tuple"):  # a tuple where one tensor belongs
            m(z(T, B, I), (z(2 * L, B, H),))
        return
    with raises(TypeError, "LSTM", "hx", "(h0, c0)", "Tensor"):
        m(z(T, B, I), z(2 * L, B, H))
    with raises(ValueError, "LSTM", "hx", "(h0, c0)", "3 tensors"):
        m(z(T, B, I), (z(2 * L, B, H),) * 3)


# --- lengths ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("lengths", [[6, 1, 2], [5, 5, 100], [0, 1, 2], [3, -1, 2]])
def test_lengths_out_of_range(layer, lengths):
    name, m = layer
    with raises(ValueError, name, "lengths", f"[1, {T}]", str(lengths)):
        m(z(T, B, I), lengths=lengths)


@pytest.mark.parametrize("lengths,shape", [([1, 2], (2,)), ([1, 2, 3, 4], (4,)), ([[1, 2, 3]], (1, 3)), (3, ())])
def test_lengths_wrong_shape(layer, lengths, shape):
    name, m = layer
    with raises(ValueError, name, "lengths", f"({B},)", str(shape)):
        m(z(T, B, I), lengths=lengths)


@pytest.mark.parametrize("lengths", [[1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0], dtype=np.float32),
                                     "tg_float", [True, True, False]])
def test_lengths_must_be_integers(layer, lengths):
    name, m = layer
    if isinstance(lengths, str):
        lengths = tg.tensor(np.array([1.0, 2.0, 3.0]))
    got = np.asarray(lengths._data if isinstance(lengths, tg.Tensor) else lengths).dtype
    with raises(TypeError, name, "lengths", "integers", str(got)):
        m(z(T, B, I), lengths=lengths)


def test_lengths_need_batched_input(layer):
    name, m = layer
    with raises(ValueError, name, "lengths", "batched", "unbatched"):
        m(z(T, I), lengths=[T])


def test_lengths_with_batch_first_are_checked_against_T():
    m = LSTM(I, H, batch_first=True, dtype=np.float64)
    with raises(ValueError, "lengths", "[1, 5]", "[6, 1, 1]"):
        m(z(B, T, I), lengths=[6, 1, 1])  # input (B, T, I): B=3, T=5
    with raises(ValueError, "lengths", "(3,)", "(5,)"):
        m(z(B, T, I), lengths=[1] * T)


# --- constructor arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("kwargs,exc,fragments", [
    (dict(impl="cuda"), ValueError, ["impl", "'fused' or 'unrolled'", "'cuda'"]),
    (dict(impl=None), ValueError, ["impl", "'fused' or 'unrolled'", "None"]),
    (dict(num_layers=0), ValueError, ["num_layers", "positive int", "0"]),
    (dict(num_layers=1.5), ValueError, ["num_layers", "positive int", "1.5"]),
    (dict(num_layers=-2), ValueError, ["num_layers", "positive int", "-2"]),
    (dict(dropout=1.5), ValueError, ["dropout", "[0, 1]", "1.5"]),
    (dict(dropout=-0.1), ValueError, ["dropout", "[0, 1]", "-0.1"]),
    (dict(dropout="0.5"), TypeError, ["dropout", "[0, 1]", "'0.5'"]),
    (dict(hidden_size=0), ValueError, ["hidden_size", "positive int", "0"]),
    (dict(input_size=2.0), ValueError, ["input_size", "positive int", "2.0"]),
    (dict(recurrent_init="xavier"), ValueError, ["recurrent_init", "'orthogonal'", "'xavier'"]),
])
def test_bad_constructor_arguments(name, kwargs, exc, fragments):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with raises(exc, name, *fragments):
        LAYERS[name](**args)


def test_bad_nonlinearity():
    with raises(ValueError, "RNN", "nonlinearity", "'tanh' or 'relu'", "'sigmoid'"):
        RNN(3, 4, nonlinearity="sigmoid")
    with raises(ValueError, "RNNCell", "nonlinearity", "'tanh' or 'relu'", "'gelu'"):
        RNNCell(3, 4, nonlinearity="gelu")
    for cls in (LSTM, GRU):
        with raises(TypeError, cls.__name__, "nonlinearity"):
            cls(3, 4, nonlinearity="relu")


def test_init_recurrent_unknown_scheme():
    m = GRU(3, 4, dtype=np.float64)
    before = snapshot(m)
    with raises(ValueError, "GRU", "scheme", "'orthogonal' or 'identity'", "'xavier'"):
        m.init_recurrent("xavier")
    assert_unchanged(m, before)


def test_forget_bias_without_bias():
    with raises(ValueError, "LSTM", "forget_bias", "bias=True"):
        LSTM(3, 4, bias=False, forget_bias=1.0)


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("kwargs,fragment", [(dict(input_size=0), "input_size"), (dict(hidden_size=-1), "hidden_size"),
                                             (dict(hidden_size=2.5), "hidden_size")])
def test_bad_cell_sizes(name, kwargs, fragment):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with raises(ValueError, name, fragment, "positive int", repr(kwargs[fragment])):
        CELLS[name](**args)


# --- cells ------------------------------------------------------------------------------------------
@pytest.fixture(params=list(CELLS))
def cell(request):
    name = request.param
    c = used(CELLS[name](I, H, dtype=np.float64), tg.randn(B, I, dtype=np.float64))
    before = snapshot(c)
    yield name, c
    assert_unchanged(c, before)


def test_cell_wrong_input(cell):
    name, c = cell
    with raises(ValueError, f"{name} expected input of size 32 in its last dim, got shape (3, 16)"):
        c(z(B, 16))
    with raises(ValueError, name, f"(B, {I}) or ({I},)", str((1, B, I))):
        c(z(1, B, I))
    with raises(TypeError, name, "input", "float64", "float32"):
        c(z(B, I, dtype=np.float32))


@pytest.mark.parametrize("x_shape,bad", [((B, I), (B + 1, H)), ((B, I), (H,)), ((I,), (1, H)), ((B, I), (B, H + 1))])
def test_cell_wrong_hx_shape(cell, x_shape, bad):
    name, c = cell
    good = z(*x_shape[:-1], H)
    with raises(ValueError, name, "hx", str(bad)):
        c(z(*x_shape), pack_hx(kind_of(c), [z(*bad), good]))
    if name == "LSTMCell":  # the cell state is checked alike
        with raises(ValueError, name, "hx", str(bad)):
            c(z(*x_shape), (good, z(*bad)))


def test_cell_hx_dtype(cell):
    name, c = cell
    h32 = z(B, H, dtype=np.float32)
    with raises(TypeError, name, "hx", "float64", "float32"):
        c(z(B, I), pack_hx(kind_of(c), [h32, h32]))


def test_lstm_cell_state_must_be_a_pair():
    c = LSTMCell(I, H, dtype=np.float64)
    with raises(TypeError, "LSTMCell", "hx", "(h, c)", "Tensor"):
        c(z(B, I), z(B, H))
    with raises(ValueError, "LSTMCell", "hx", "(h, c)", "1 tensors"):
        c(z(B, I), (z(B, H),))


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
def test_an_empty_batch_takes_an_empty_list_of_lengths(impl):
    lstm = tg.nn.LSTM(3, 4, impl=impl)
    out, (h, c) = lstm(tg.zeros(5, 0, 3), lengths=[])
    assert out.shape == (5, 0, 4) and h.shape == c.shape == (1, 0, 4)
    with pytest.raises(TypeError, match="lengths must be integers"):
        lstm(tg.zeros(5, 1, 3), lengths=[2.0])
