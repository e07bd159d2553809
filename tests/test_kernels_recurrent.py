"""The built-in LSTM, GRU and RNN directions run through the kernels generated from their steps
(nn.rnn._compiled, what nn.LSTM/GRU/RNN(impl="fused") call per layer and direction), and the
kernels' helpers (fastmath, workspace).

Forward passes are checked against a plain NumPy reference (one sequence at a time, so it also defines
the padded-batch semantics), backward passes against central finite differences in float64. Also run
with NUMBA_DISABLE_JIT=1: sizes stay small so that the plain-Python path takes seconds.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.kernels import fastmath, workspace
from tinygrad_rnn.tensor import Tensor
from tinygrad_rnn.nn import rnn

from recurrent_table import EDGES, GATES, NONEMPTY_EDGES, ref_direction, sigmoid

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
I, H = 3, 4


def make(cell, T, B, bias=True, dtype=np.float64, seed=0, I=I, H=H):
    """Random inputs: dict with x, w_ih, w_hh, b_ih, b_hh, h0, c0."""
    rng = np.random.default_rng(seed)
    G = GATES[cell] * H
    p = dict(x=rng.standard_normal((T, B, I)), w_ih=rng.uniform(-0.7, 0.7, (G, I)),
             w_hh=rng.uniform(-0.7, 0.7, (G, H)), b_ih=rng.uniform(-0.5, 0.5, G),
             b_hh=rng.uniform(-0.5, 0.5, G), h0=rng.standard_normal((B, H)) * 0.5,
             c0=rng.standard_normal((B, H)) * 0.5)
    if not bias:
        p["b_ih"] = p["b_hh"] = None
    return {k: None if v is None else v.astype(dtype) for k, v in p.items()}


def edge_sizes(edge, T=6, B=3):
    """(T, B, I, H) with one of them at its edge."""
    sizes = {**dict(T=T, B=B, I=I, H=H), **EDGES[edge]}
    return sizes["T"], sizes["B"], sizes["I"], sizes["H"]


def forward(cell, p, lengths=None, reverse=False):
    """Run one layer direction through its compiled kernels: ([out, h_n] (+ [c_n] for lstm), saved),
    saved holding the Tensors (each array of p itself, not a copy, requiring grad) and the outputs,
    for backward."""
    mode = {"lstm": "LSTM", "gru": "GRU"}.get(cell, "RNN")
    ts = {k: None if v is None else Tensor._make(v, True) for k, v in p.items() if k != "c0" or cell == "lstm"}
    state = [ts["h0"], ts["c0"]] if cell == "lstm" else [ts["h0"]]
    lens = None if lengths is None else np.asarray(lengths, np.int64)
    outs = rnn._compiled(mode, ts["x"], state, ts["w_ih"], ts["w_hh"], ts["b_ih"], ts["b_hh"], lens, reverse,
                         cell[4:] or "tanh")
    return [o.detach().numpy() for o in outs], (ts, outs)


def backward(cell, saved, douts, retain=True):
    """Gradients (dict named like the inputs; None for an input without one) of the outputs given
    their incoming gradients douts; retain=False frees the graph (and the kernels' saved buffers)."""
    ts, outs = saved
    for t in ts.values():
        if t is not None:
            t.grad = None
    tg.autograd.backward(list(outs), [tg.tensor(d) for d in douts], retain_graph=retain)
    return {k: None if t is None or t.grad is None else t.grad.numpy() for k, t in ts.items()}


def release(cell, saved):
    """Let the graph go: a last backward frees it (the buffers go back to the pool)."""
    backward(cell, saved, [np.zeros(o.shape, o.dtype) for o in saved[1]], retain=False)


def run(cell, p, lengths=None, reverse=False):
    with tg.no_grad():
        return forward(cell, p, lengths, reverse)[0]


def random_lengths(T, B, seed=1):
    lengths = np.random.default_rng(seed).integers(1, T + 1, B)
    lengths[0] = T
    return lengths


# ---------------------------------------------------------------- helpers: fastmath and workspace

@pytest.mark.parametrize("fn, ref", [(fastmath.tanh, np.tanh), (fastmath.sigmoid, sigmoid)])
def test_fastmath_accuracy_and_range(fn, ref):
    xs = np.concatenate([np.linspace(-12, 12, 2001), [-1e4, 1e4, -1e30, 1e30, 0.0]])
    with np.errstate(over="ignore"):
        expect = ref(xs)
    got32 = np.array([fn(np.float32(v)) for v in xs], np.float64)
    got64 = np.array([fn(np.float64(v)) for v in xs])
    assert np.all(np.isfinite(got32)) and np.all(np.isfinite(got64))
    assert np.max(np.abs(got32 - expect)) < 4e-7
    assert np.max(np.abs(got64 - expect)) < 1e-15


@pytest.mark.parametrize("dtype, tol", [(np.float32, 4e-7), (np.float64, 1e-15)])
def test_fastmath_inside_a_kernel(dtype, tol):
    """An RNN step with W_ih picking x[0], no recurrence and no bias outputs tanh(x[0])."""
    v = np.concatenate([np.linspace(-20, 20, 801), [-1e4, 1e4]])
    p = make("rnn_tanh", 1, len(v), bias=False, dtype=dtype)
    p["x"][0, :, 0], p["w_ih"][:], p["w_hh"][:], p["h0"][:] = v, 0, 0, 0
    p["w_ih"][:, 0] = 1
    out = run("rnn_tanh", p)[0]
    assert out.dtype == dtype and np.max(np.abs(out[0] - np.tanh(v.astype(dtype))[:, None])) < tol


def test_workspace_reuses_and_is_bounded(monkeypatch):
    workspace.clear()
    a = workspace.take((3, 4), np.float32)
    workspace.give(a)
    assert workspace.take((3, 4), np.float32) is a
    assert workspace.take((3, 4), np.float32) is not a
    workspace.give(a)
    with pytest.raises(RuntimeError):
        workspace.give(a)
    monkeypatch.setattr(workspace, "MAX_BYTES", 1000)  # room for two of these 400-byte buffers
    given = [np.empty(100, np.float32) for _ in range(10)]
    for buf in given:
        workspace.give(buf)
    taken = [workspace.take((100,), np.float32) for _ in range(3)]
    assert [any(t is g for g in given) for t in taken] == [True, True, False]
    workspace.clear()


# ---------------------------------------------------------------- forward against the reference

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T", [1, 2, 7, 30])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("bias, varlen, reverse", [(True, False, False), (False, False, True),
                                                   (True, True, False), (True, True, True),
                                                   (False, True, True)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_forward_matches_reference(cell, T, B, bias, varlen, reverse, dtype, tol):
    assert_forward_matches_reference(cell, make(cell, T, B, bias, dtype), varlen, reverse, dtype, tol)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("edge", NONEMPTY_EDGES)  # the layers handle B=0 before the kernels
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_forward_matches_reference_at_edges(cell, edge, reverse, dtype, tol):
    T, B, I, H = edge_sizes(edge)
    assert_forward_matches_reference(cell, make(cell, T, B, True, dtype, I=I, H=H), True, reverse, dtype, tol)


def assert_forward_matches_reference(cell, p, varlen, reverse, dtype, tol):
    T, B, _ = p["x"].shape
    lengths = random_lengths(T, B) if varlen else None
    outs = run(cell, p, lengths, reverse)
    expect = ref_direction(cell, *p.values(), lengths, reverse)
    for got, ref in zip(outs, expect):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("cell", CELLS)
@given(data=st.data())
def test_padded_batch_equals_each_sequence_alone(cell, data):
    T = data.draw(st.integers(1, 9))
    B = data.draw(st.integers(1, 4))
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    reverse = data.draw(st.booleans())
    p = make(cell, T, B, seed=data.draw(st.integers(0, 99)))
    p["x"][np.arange(T)[:, None] >= lengths] = np.nan  # padding must never be read
    outs, saved = forward(cell, p, lengths, reverse)
    douts = [np.random.default_rng(2).standard_normal(o.shape) for o in outs]
    douts[0][np.arange(T)[:, None] >= lengths] = np.nan  # nor its incoming gradient
    grads = backward(cell, saved, douts)
    release(cell, saved)
    weight_sums = {k: 0.0 for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    for b, n in enumerate(lengths):
        alone = {k: v if k in ("w_ih", "w_hh", "b_ih", "b_hh") else v[b:b + 1] for k, v in p.items()}
        alone["x"] = p["x"][:n, b:b + 1]
        o, s = forward(cell, alone, None, reverse)
        g = backward(cell, s, [douts[0][:n, b:b + 1]] + [d[b:b + 1] for d in douts[1:]])
        release(cell, s)
        np.testing.assert_allclose(outs[0][:n, b], o[0][:, 0], rtol=1e-12, atol=1e-12)
        assert np.all(outs[0][n:, b] == 0)
        for full, one in zip(outs[1:], o[1:]):
            np.testing.assert_allclose(full[b], one[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads["x"][:n, b], g["x"][:, 0], rtol=1e-10, atol=1e-12)
        assert np.all(grads["x"][n:, b] == 0)
        for k in ("h0", "c0") if cell == "lstm" else ("h0",):
            np.testing.assert_allclose(grads[k][b], g[k][0], rtol=1e-10, atol=1e-12)
        for k in weight_sums:
            weight_sums[k] = weight_sums[k] + g[k]
    for k, v in weight_sums.items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- backward against finite differences

def objective(cell, p, lengths, reverse, weights):
    return sum(np.sum(o * w) for o, w in zip(run(cell, p, lengths, reverse), weights))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T, B, bias, varlen, reverse", [(1, 1, True, False, False),
                                                         (5, 2, True, False, False),
                                                         (5, 2, False, False, True),
                                                         (6, 3, True, True, False),
                                                         (6, 3, True, True, True)])
def test_backward_matches_finite_differences(cell, T, B, bias, varlen, reverse):
    assert_backward_matches_finite_differences(cell, make(cell, T, B, bias, seed=T + B), varlen, reverse)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("edge", NONEMPTY_EDGES)  # the layers handle B=0 before the kernels
def test_backward_matches_finite_differences_at_edges(cell, edge):
    T, B, I, H = edge_sizes(edge, T=4, B=2)
    assert_backward_matches_finite_differences(cell, make(cell, T, B, seed=T + B, I=I, H=H), True, True)


def assert_backward_matches_finite_differences(cell, p, varlen, reverse):
    """Every gradient (x, weights, biases, h0, c0) against central differences of a random projection."""
    T, B, _ = p["x"].shape
    lengths = random_lengths(T, B) if varlen else None
    outs, saved = forward(cell, p, lengths, reverse)
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(cell, saved, weights)
    release(cell, saved)
    eps = 1e-6
    for name, value in p.items():
        if value is None or (name == "c0" and cell != "lstm"):
            assert grads.get(name) is None
            continue
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            old = value[i]
            value[i] = old + eps
            up = objective(cell, p, lengths, reverse, weights)
            value[i] = old - eps
            down = objective(cell, p, lengths, reverse, weights)
            value[i] = old
            numeric[i] = (up - down) / (2 * eps)
        err = np.linalg.norm(grads[name] - numeric) / max(np.linalg.norm(numeric), 1e-12)
        assert grads[name].shape == value.shape and err < 1e-6, (name, err)
    if varlen:
        assert np.all(grads["x"][np.arange(T)[:, None] >= lengths] == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_backward_close_to_float64(cell):
    p64 = make(cell, 7, 3)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    lengths = random_lengths(7, 3)
    grads = []
    for p in (p64, p32):
        outs, saved = forward(cell, p, lengths, True)
        grads.append(backward(cell, saved, [np.ones_like(o) for o in outs]))
        release(cell, saved)
    for k, g64 in grads[0].items():
        assert grads[1][k].dtype == np.float32
        np.testing.assert_allclose(grads[1][k], g64, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- saved buffers: reuse, aliasing, release

@pytest.mark.parametrize("cell", CELLS)
def test_backward_twice_and_interleaved_sequences(cell):
    """A retained graph's backward gives the same gradients twice; two sequences of the same shapes
    share no buffer, whichever backward runs first; buffers a freed graph gave back and a new
    sequence took leave the other graph's intact; a freed graph refuses another backward; the inputs
    are never written."""
    pa, pb = make(cell, 6, 2, seed=1), make(cell, 6, 2, seed=2)
    before = {k: v.copy() for k, v in pa.items()}
    outs_a, sa = forward(cell, pa)
    douts = [np.ones_like(o) for o in outs_a]
    first = backward(cell, sa, douts)
    again = backward(cell, sa, douts)
    for k in first:
        assert first[k] is None or np.array_equal(first[k], again[k])
    outs_b, sb = forward(cell, pb)  # same shapes: must not share buffers with sa
    for order in ((sa, sb), (sb, sa)):
        got = [backward(cell, s, douts) for s in order]
        ref_a, ref_b = (got[0], got[1]) if order[0] is sa else (got[1], got[0])
        for k in first:
            assert first[k] is None or np.array_equal(ref_a[k], first[k])
    release(cell, sb)
    _, sc = forward(cell, pa)  # may reuse sb's buffers; sa must be unaffected
    again = backward(cell, sa, douts)
    for k in first:
        assert first[k] is None or np.array_equal(first[k], again[k])
    assert not np.array_equal(ref_b["x"], first["x"])
    for s in (sa, sc):
        release(cell, s)
    with pytest.raises(RuntimeError, match="second time"):
        backward(cell, sa, douts)
    for k, v in before.items():
        assert v is None or np.array_equal(v, pa[k])  # inputs are never written


@pytest.mark.parametrize("cell", CELLS)
def test_non_contiguous_inputs(cell):
    p = make(cell, 5, 3)
    q = {k: None if v is None else np.asfortranarray(v) for k, v in p.items()}
    q["x"] = np.ascontiguousarray(p["x"].transpose(1, 0, 2)).transpose(1, 0, 2)
    for a, b in zip(run(cell, p), run(cell, q)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_long_sequence(cell):
    T = 5000
    p = make(cell, T, 1)
    p["x"] *= 0.3
    outs, saved = forward(cell, p, None, True)
    grads = backward(cell, saved, [np.ones_like(o) for o in outs])
    release(cell, saved)
    expect = ref_direction(cell, *p.values(), None, True)
    np.testing.assert_allclose(outs[0], expect[0], rtol=1e-10, atol=1e-10)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
