"""RNN, LSTM and GRU layers: both implementations against a NumPy reference, finite differences and
each other; variable lengths, truncated BPTT, very long sequences, initialisation and parameter layout.

Everything runs in float64. Objectives return (output, h_n[, c_n]) so that every output's gradient
path (through the sequence output and through the final states) is exercised.
"""

import math
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import autograd

from tinygrad_rnn.nn import GRU, LSTM, RNN

from recurrent_table import (GATES, IMPLS, KINDS, at_edge, break_compiled_gradient, build, cfg, edge_cases, make_layer,
                             n_states, pack_hx, ref_layer, sigmoid, t64, to_time_major, twin, unpack)

ATOL, RTOL = 1e-8, 1e-6  # finite differences in float64 are good to ~1e-10 at these sizes


# --- helpers ----------------------------------------------------------------------------------------
def objective(kind, m, x, states, lengths):
    """fn(*inputs) -> (output, h_n[, c_n]) for gradcheck (it perturbs the inputs in place)."""
    def fn(*args):
        out, finals = unpack(kind, m(x, pack_hx(kind, states), lengths=lengths))
        return (out, *finals)
    return fn


def loss_weights(kind, m, x, states, lengths, seed=7):
    """Random cotangents for output and final states, so that every path carries gradient."""
    with autograd.no_grad():
        out, finals = unpack(kind, m(x, pack_hx(kind, states), lengths=lengths))
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(t.shape) for t in (out, *finals)]


def forward_backward(kind, m, x, states, lengths, weights):
    """Output, final states and every gradient (x, states, each parameter) as arrays."""
    for t in (x, *states, *m.parameters()):
        t.grad = None
    out, finals = unpack(kind, m(x, pack_hx(kind, states), lengths=lengths))
    loss = sum(((t * w).sum() for t, w in zip((out, *finals), weights)), t64(0.0))
    loss.backward()
    grads = {"x": x.grad}
    grads.update({f"state{k}": s.grad for k, s in enumerate(states)})
    grads.update(dict((n, p.grad) for n, p in m.named_parameters()))
    return ([out._data.copy()] + [f._data.copy() for f in finals],
            {k: (None if g is None else g._data.copy()) for k, g in grads.items()})


def assert_close(a, b, tol=1e-10, what=""):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


REFERENCE_CASES = {
    "plain": cfg(T=5, B=3, I=3, H=4),
    "no_h0_nobias": cfg(T=4, B=2, I=2, H=3, h0=False, bias=False),
    "deep_bidir_lengths_batch_first": cfg(T=6, B=3, I=2, H=3, num_layers=2, bidirectional=True,
                                          batch_first=True, lengths=[6, 2, 4]),
    "unbatched_deep_bidir": cfg(T=4, B=None, I=3, H=2, num_layers=2, bidirectional=True),
}
REFERENCE_CASES.update(edge_cases(REFERENCE_CASES["plain"], "plain_"))
REFERENCE_CASES.update(edge_cases(REFERENCE_CASES["deep_bidir_lengths_batch_first"], "deep_bidir_lengths_"))


@pytest.mark.parametrize("case", list(REFERENCE_CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_forward_matches_numpy_reference(kind, impl, case):
    c = REFERENCE_CASES[case]
    m, x, states, lengths = build(kind, impl, c)
    out, finals = unpack(kind, m(x, pack_hx(kind, states), lengths=lengths))
    D = 2 if c["bidirectional"] else 1
    assert out.shape == x.shape[:-1] + (D * c["H"],)
    L = c["num_layers"] * D
    for f in finals:
        assert f.shape == ((L, c["H"]) if c["B"] is None else (L, c["B"], c["H"])) and f.dtype == np.float64
    ref_states = [s._data if c["B"] is not None else s._data[:, None] for s in states]
    want = ref_layer(kind, m, to_time_major(c, x._data), ref_states, lengths)
    assert_close(to_time_major(c, out._data), want[0], 1e-12, "output")
    for f, w in zip(finals, want[1:]):
        assert_close(f._data if c["B"] is not None else f._data[:, None], w, 1e-12, "final state")


# --- gradcheck --------------------------------------------------------------------------------------
FULL_CASES = {
    "T1": cfg(T=1),
    "T2": cfg(T=2),
    "T7": cfg(T=7, B=1, I=1),
    "no_h0": cfg(T=2, h0=False),
    "two_layers": cfg(T=2, num_layers=2, H=2, I=1),
    "bidirectional": cfg(T=2, bidirectional=True, I=1),
    "batch_first": cfg(T=2, B=3, batch_first=True),
    "lengths": cfg(T=3, B=3, I=1, lengths=[3, 1, 2]),
    "unbatched": cfg(T=2, B=None),
    "no_bias": cfg(T=2, bias=False),
    **edge_cases(cfg(T=3, bidirectional=True, lengths=[3, 2]), "bidir_lengths_"),
}


@pytest.mark.parametrize("case", list(FULL_CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck_full(kind, impl, case):
    """Full Jacobian w.r.t. the input, h0 (and c0) and every parameter, for tiny layers."""
    m, x, states, lengths = build(kind, impl, FULL_CASES[case], seed=2)
    params = list(m.parameters())
    assert tg.gradcheck(objective(kind, m, x, states, lengths), [x, *states, *params],
                        atol=ATOL, rtol=RTOL, mode="full")


def projection_case(T, variant):
    if variant == "deep_bidir_lengths":  # batch_first, h0/c0 given, one sequence of each extreme length
        lengths = sorted({T, 1, max(1, (2 * T) // 3)}, reverse=True)
        return cfg(T=T, B=len(lengths) + 1, I=3, H=3, num_layers=2, bidirectional=True, batch_first=True,
                   lengths=[lengths[0]] + lengths)
    if variant == "single_no_bias":
        return cfg(T=T, B=2, I=3, H=4, bias=False)
    return cfg(T=T, B=None, I=2, H=3, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("T", [1, 2, 7, 30])
@pytest.mark.parametrize("variant", ["deep_bidir_lengths", "unbatched", "single_no_bias"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck_projection(kind, impl, variant, T):
    """Random projections uᵀJv w.r.t. everything at once, across sequence lengths."""
    m, x, states, lengths = build(kind, impl, projection_case(T, variant), seed=T)
    assert tg.gradcheck(objective(kind, m, x, states, lengths), [x, *states, *m.parameters()],
                        atol=1e-7, rtol=RTOL, mode="projection", n_projections=2)


@pytest.mark.parametrize("target", ["w_hh", "bias", "h0", "x"])
def test_projection_gradcheck_catches_a_wrong_fused_gradient(monkeypatch, target):
    """The check can fail: the fused LSTM's backward with one gradient off by 1e-4 relative."""
    break_compiled_gradient(monkeypatch, target, 1.0001)
    m, x, states, lengths = build("lstm", "fused", projection_case(7, "deep_bidir_lengths"))
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(objective("lstm", m, x, states, lengths), [x, *states, *m.parameters()],
                     atol=1e-7, rtol=RTOL, mode="projection", n_projections=2)


# --- second derivatives -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_gradgradcheck_unrolled_full(kind):
    m, x, states, lengths = build(kind, "unrolled", cfg(T=2, B=1, I=1, H=2), seed=4)
    assert tg.gradgradcheck(objective(kind, m, x, states, lengths), [x, *states, *m.parameters()],
                            atol=ATOL, rtol=RTOL, mode="full")


@pytest.mark.parametrize("kind", KINDS)
def test_gradgradcheck_unrolled_deep_bidir_lengths(kind):
    c = cfg(T=3, B=2, I=2, H=2, num_layers=2, bidirectional=True, lengths=[2, 3])
    m, x, states, lengths = build(kind, "unrolled", c, seed=5)
    assert tg.gradgradcheck(objective(kind, m, x, states, lengths), [x, *states, *m.parameters()],
                            atol=1e-7, rtol=RTOL, mode="projection", n_projections=2)


@pytest.mark.parametrize("edge", list(edge_cases(cfg())))
@pytest.mark.parametrize("kind", KINDS)
def test_gradgradcheck_unrolled_at_edges(kind, edge):
    c = at_edge(cfg(T=3, B=2, I=2, H=2, bidirectional=True, lengths=[3, 2]), edge)
    m, x, states, lengths = build(kind, "unrolled", c, seed=5)
    assert tg.gradgradcheck(objective(kind, m, x, states, lengths), [x, *states, *m.parameters()],
                            atol=1e-7, rtol=RTOL, mode="projection", n_projections=2)


@pytest.mark.parametrize("kind", KINDS)
def test_unrolled_hessian_vector_product_matches_finite_differences(kind):
    """d/dε ∇L(θ + εv) = H v, the second-order method use case, through the whole sequence."""
    m, x, states, lengths = build(kind, "unrolled", cfg(T=4, B=2, I=2, H=3, num_layers=2), seed=6)
    params = list(m.parameters())
    rng = np.random.default_rng(0)
    v = [rng.standard_normal(p.shape) for p in params]

    def loss():
        out, finals = unpack(kind, m(x, pack_hx(kind, states)))
        return (out * out).sum() + (finals[0] * finals[0]).sum()

    grads = autograd.grad(loss(), params, create_graph=True)
    gv = sum(((g * vi).sum() for g, vi in zip(grads, v)), t64(0.0))
    hv = [h._data for h in autograd.grad(gv, params)]
    eps, saved = 1e-6, [p._data.copy() for p in params]
    numeric = []
    for sign in (1, -1):
        for p, s, vi in zip(params, saved, v):
            p._data[...] = s + sign * eps * vi
        numeric.append([g._data for g in autograd.grad(loss(), params)])
    for p, s in zip(params, saved):
        p._data[...] = s
    for a, plus, minus in zip(hv, *numeric):
        np.testing.assert_allclose(a, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_refuses_second_derivatives_naming_unrolled(kind):
    m, x, states, lengths = build(kind, "fused", cfg(T=3, num_layers=2, bidirectional=True), seed=1)
    out, finals = unpack(kind, m(x, pack_hx(kind, states)))
    loss = out.sum() + finals[0].sum()
    with pytest.raises(RuntimeError, match='impl="unrolled"'):
        autograd.grad(loss, list(m.parameters()), create_graph=True)
    out, finals = unpack(kind, m(x, pack_hx(kind, states)))
    with pytest.raises(RuntimeError, match='impl="unrolled"'):
        (out.sum() + finals[0].sum()).backward(create_graph=True)
    with pytest.raises(RuntimeError, match='impl="unrolled"') as info:
        tg.gradgradcheck(objective(kind, m, x, states, lengths), [x, *states, *m.parameters()],
                         mode="projection", n_projections=1)
    assert not isinstance(info.value, tg.GradcheckError)
    # first derivatives still work
    out, finals = unpack(kind, m(x, pack_hx(kind, states)))
    grads = autograd.grad(out.sum() + finals[0].sum(), list(m.parameters()))
    assert all(np.isfinite(g._data).all() and g.shape == p.shape for g, p in zip(grads, m.parameters()))


# --- fused == unrolled ------------------------------------------------------------------------------
@st.composite
def layer_configs(draw):
    unbatched = draw(st.integers(0, 4)) == 0  # one in five
    B = None if unbatched else draw(st.integers(1, 4))
    T = draw(st.integers(1, 8))
    use_lengths = B is not None and draw(st.booleans())
    lengths = [draw(st.integers(1, T)) for _ in range(B)] if use_lengths else None
    return cfg(T=T, B=B, I=draw(st.integers(1, 5)), H=draw(st.integers(1, 5)),
               num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()),
               batch_first=draw(st.booleans()), lengths=lengths, h0=draw(st.booleans()),
               bias=draw(st.booleans()))


@pytest.mark.parametrize("kind", KINDS)
@given(c=layer_configs(), seed=st.integers(0, 2 ** 16))
def test_fused_equals_unrolled(kind, c, seed):
    assert_fused_equals_unrolled(kind, c, seed)


@pytest.mark.parametrize("edge", list(edge_cases(cfg())))
@pytest.mark.parametrize("kind", KINDS)
def test_fused_equals_unrolled_at_edges(kind, edge):
    c = cfg(T=4, B=3, I=3, H=3, num_layers=2, bidirectional=True, batch_first=True, lengths=[4, 1, 3])
    assert_fused_equals_unrolled(kind, at_edge(c, edge), seed=1)


def assert_fused_equals_unrolled(kind, c, seed):
    """Both impls: the same values and every gradient (input, states, parameters) to 1e-10."""
    m, x, states, lengths = build(kind, "fused", c, seed=seed)
    u = twin(m, "unrolled")
    xu, su = t64(x._data, True), [t64(s._data, True) for s in states]
    if lengths is not None and seed % 2:  # lengths given as a Tensor or an array work alike
        lengths = tg.tensor(np.array(lengths, dtype=np.int64)) if seed % 4 == 1 else np.array(lengths)
    weights = loss_weights(kind, m, x, states, lengths, seed)
    vals_f, grads_f = forward_backward(kind, m, x, states, lengths, weights)
    vals_u, grads_u = forward_backward(kind, u, xu, su, lengths, weights)
    for a, b in zip(vals_f, vals_u):
        assert a.shape == b.shape
        assert_close(a, b, what="values")
    assert grads_f.keys() == grads_u.keys()
    for name in grads_f:
        assert grads_f[name] is not None and grads_u[name] is not None, name
        assert_close(grads_f[name], grads_u[name], what=name)


# --- variable lengths -------------------------------------------------------------------------------
LENGTH_CASES = {
    "uni": cfg(T=6, B=4, I=3, H=3, lengths=[6, 1, 3, 5]),
    "bidir_deep": cfg(T=6, B=4, I=3, H=3, num_layers=2, bidirectional=True, lengths=[3, 6, 1, 4]),
    "bidir_batch_first": cfg(T=5, B=3, I=2, H=2, bidirectional=True, batch_first=True, lengths=[2, 5, 4]),
}
LENGTH_CASES.update(edge_cases(LENGTH_CASES["bidir_deep"], "bidir_deep_"))


@pytest.mark.parametrize("case", list(LENGTH_CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_lengths_padding_is_exactly_zero(kind, impl, case):
    c = LENGTH_CASES[case]
    m, x, states, lengths = build(kind, impl, c, seed=3)
    weights = loss_weights(kind, m, x, states, lengths)
    (out, *finals), grads = forward_backward(kind, m, x, states, lengths, weights)
    out, gx = to_time_major(c, out), to_time_major(c, grads["x"])
    D, H = (2 if c["bidirectional"] else 1), c["H"]
    for b, n in enumerate(lengths):
        assert (out[n:, b] == 0).all() and (gx[n:, b] == 0).all()
        if kind != "rnn_relu":  # (a relu state may be all zero at some step)
            assert (np.abs(out[:n, b]).sum(-1) > 0).all() and (np.abs(gx[:n, b]).sum(-1) > 0).all()
        if kind != "rnn_relu" or H > 1:  # (a single relu unit may be dead along a whole short sequence)
            assert np.abs(out[:n, b]).sum() > 0 and np.abs(gx[:n, b]).sum() > 0
        # h_n is the state at each sequence's own end: the forward direction's last output, the
        # reverse direction's output at position 0 (where it ends)
        top = (c["num_layers"] - 1) * D
        np.testing.assert_array_equal(finals[0][top, b], out[n - 1, b, :H])
        if D == 2:
            np.testing.assert_array_equal(finals[0][top + 1, b], out[0, b, H:])


@pytest.mark.parametrize("case", list(LENGTH_CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_lengths_equal_running_each_sequence_alone(kind, impl, case):
    """Outputs, final states and all gradients of the padded batch equal B separate runs, each with
    a batch of one truncated to its length (parameter gradients add up over the runs)."""
    c = LENGTH_CASES[case]
    m, x, states, lengths = build(kind, impl, c, seed=4)
    weights = loss_weights(kind, m, x, states, lengths)
    (out, *finals), grads = forward_backward(kind, m, x, states, lengths, weights)
    out, gx = to_time_major(c, out), to_time_major(c, grads["x"])
    w_out = to_time_major(c, weights[0])
    param_sums = {n: np.zeros(p.shape) for n, p in m.named_parameters()}
    xt = to_time_major(c, x._data)
    for b, n in enumerate(lengths):
        xb = xt[:n, b:b + 1]
        xb = t64(np.swapaxes(xb, 0, 1) if c["batch_first"] else xb, True)
        sb = [t64(s._data[:, b:b + 1], True) for s in states]
        wb = [np.swapaxes(w_out[:n, b:b + 1], 0, 1) if c["batch_first"] else w_out[:n, b:b + 1]]
        wb += [w[:, b:b + 1] for w in weights[1:]]
        (ob, *fb), gb = forward_backward(kind, m, xb, sb, None, wb)
        assert_close(to_time_major(c, ob)[:, 0], out[:n, b], what="output")
        for f, f1 in zip(finals, fb):
            assert_close(f1[:, 0], f[:, b], what="final state")
        assert_close(to_time_major(c, gb["x"])[:, 0], gx[:n, b], what="dx")
        for k in range(len(states)):
            assert_close(gb[f"state{k}"][:, 0], grads[f"state{k}"][:, b], what="dh0/dc0")
        for name in param_sums:
            param_sums[name] += gb[name]
    for name, total in param_sums.items():
        assert_close(total, grads[name], what=name)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_padding_values_never_matter(kind, impl):
    """Whatever the padding holds (garbage, inf, NaN), outputs and all gradients are the same."""
    c = LENGTH_CASES["bidir_deep"]
    m, x, states, lengths = build(kind, impl, c, seed=5)
    weights = loss_weights(kind, m, x, states, lengths)
    vals, grads = forward_backward(kind, m, x, states, lengths, weights)
    for fill in (1e3, np.inf, np.nan):
        a = x._data.copy()
        for b, n in enumerate(lengths):
            a[n:, b] = fill
        x2 = t64(a, True)
        vals2, grads2 = forward_backward(kind, m, x2, states, lengths, weights)
        for v, v2 in zip(vals, vals2):
            np.testing.assert_array_equal(v, v2)
        for name in grads:
            assert_close(grads2[name], grads[name], 1e-13, f"{name} with padding {fill}")


@pytest.mark.parametrize("impl", IMPLS)
def test_full_lengths_equal_no_lengths(impl):
    c = cfg(T=4, B=3, I=2, H=3, num_layers=2, bidirectional=True)
    m, x, states, _ = build("lstm", impl, c)
    weights = loss_weights("lstm", m, x, states, None)
    vals, grads = forward_backward("lstm", m, x, states, None, weights)
    vals2, grads2 = forward_backward("lstm", m, x, states, [4, 4, 4], weights)
    for v, v2 in zip(vals, vals2):
        assert_close(v, v2, 1e-13)
    for name in grads:
        assert_close(grads[name], grads2[name], 1e-13, name)


# --- an input that needs no gradient ------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_an_input_without_grad_gets_none_and_changes_no_other_gradient(kind):
    """x of a data batch needs no gradient, so the fused layers skip dx = D W_ih (as PyTorch's autograd
    does); the upper layer's input (the lower one's output) still needs it, or the lower layer's
    parameters would get no gradient. Bidirectional, two layers, lengths, initial states."""
    m = make_layer(kind, 3, 4, "fused", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(3)
    xs, lengths = rng.standard_normal((6, 3, 3)), np.array([6, 2, 4])
    states = [t64(rng.standard_normal((4, 3, 4)), True) for _ in range(n_states(kind))]
    weights = loss_weights(kind, m, t64(xs), states, lengths)
    vals, grads = forward_backward(kind, m, t64(xs, True), states, lengths, weights)
    vals2, grads2 = forward_backward(kind, m, t64(xs), states, lengths, weights)
    assert grads["x"] is not None and grads2["x"] is None
    for v, v2 in zip(vals, vals2):
        assert_close(v, v2, 1e-14)
    for name in grads:
        if name != "x":
            assert_close(grads[name], grads2[name], 1e-14, name)


# --- truncated BPTT ---------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_truncated_bptt_gradient_is_that_of_the_truncated_objective(kind, impl):
    m = make_layer(kind, 2, 3, impl)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((8, 2, 2))
    x1, x2 = t64(xs[:4], True), t64(xs[4:])
    h0 = [t64(rng.standard_normal((1, 2, 3)), True) for _ in range(n_states(kind))]
    w_out, w_h = rng.standard_normal((4, 2, 3)), rng.standard_normal((1, 2, 3))

    out1, finals1 = unpack(kind, m(x1, pack_hx(kind, h0)))
    reached = []
    finals1[0].register_hook(lambda g: reached.append(g))
    carried = [f.detach() for f in finals1]
    assert not any(f.requires_grad for f in carried)
    fixed = [f._data.copy() for f in carried]

    def chunk2_loss(state):
        out2, finals2 = unpack(kind, m(x2, pack_hx(kind, state)))
        return (out2 * w_out).sum() + (finals2[0] * w_h).sum()

    chunk2_loss(carried).backward()
    assert x1.grad is None and all(h.grad is None for h in h0) and not reached
    analytic = [p.grad._data.copy() for p in m.parameters()]

    eps = 1e-6
    for p, g in zip(m.parameters(), analytic):
        numeric = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            orig = p._data[idx]
            values = []
            for delta in (eps, -eps):
                p._data[idx] = orig + delta
                with autograd.no_grad():
                    values.append(chunk2_loss([t64(f) for f in fixed]).item())
            p._data[idx] = orig
            numeric[idx] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)

    # without the detach, the same loss's gradient differs (it flows into the first chunk too)
    m.zero_grad()
    out1, finals1 = unpack(kind, m(x1, pack_hx(kind, h0)))
    chunk2_loss(finals1).backward()
    assert x1.grad is not None and np.abs(x1.grad._data).sum() > 0
    full = [p.grad._data for p in m.parameters()]
    assert max(np.abs(a - f).max() for a, f in zip(analytic, full)) > 1e-3


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_two_calls_carrying_the_state_equal_one_call(kind, impl):
    """Without detach, two chunks chained through the state are one sequence: same values, and the
    gradients accumulated over the two calls equal those of one call over the whole sequence."""
    c = cfg(T=6, B=2, I=2, H=3, num_layers=2, bidirectional=False)
    m, x, states, _ = build(kind, impl, c)
    weights = loss_weights(kind, m, x, states, None)
    (out, *finals), grads = forward_backward(kind, m, x, states, None, weights)
    m.zero_grad()
    x1, x2 = t64(x._data[:2], True), t64(x._data[2:], True)
    s0 = [t64(s._data, True) for s in states]
    out1, mid = unpack(kind, m(x1, pack_hx(kind, s0)))
    out2, end = unpack(kind, m(x2, pack_hx(kind, mid)))
    assert_close(np.concatenate([out1._data, out2._data]), out, 1e-12)
    loss = (out1 * weights[0][:2]).sum() + (out2 * weights[0][2:]).sum()
    loss = loss + sum(((f * w).sum() for f, w in zip(end, weights[1:])), t64(0.0))
    loss.backward()
    assert_close(np.concatenate([x1.grad._data, x2.grad._data]), grads["x"], 1e-12, "dx")
    for k, s in enumerate(s0):
        assert_close(s.grad._data, grads[f"state{k}"], 1e-12, "dh0")
    for name, p in m.named_parameters():
        assert_close(p.grad._data, grads[name], 1e-12, name)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_graph_backward_twice_with_retain_graph_then_freed(kind):
    m, x, states, lengths = build(kind, "fused", cfg(T=4, B=2, num_layers=2, bidirectional=True))
    out, finals = unpack(kind, m(x, pack_hx(kind, states)))
    loss = (out * out).sum() + finals[-1].sum()
    loss.backward(retain_graph=True)
    once = {n: p.grad._data.copy() for n, p in m.named_parameters()}
    loss.backward()
    for n, p in m.named_parameters():
        assert_close(p.grad._data, 2 * once[n], 1e-13, n)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


@pytest.mark.parametrize("kind", KINDS)
def test_interleaved_fused_graphs_keep_their_own_buffers(kind):
    """Kernel buffers are pooled: graphs built, run and freed in any order (and no_grad calls in
    between) must not see each other's buffers."""
    c = cfg(T=5, B=2, I=2, H=3, bidirectional=True)
    m, x, states, lengths = build(kind, "fused", c)
    weights = loss_weights(kind, m, x, states, None)
    (ref_out, *_), ref_grads = forward_backward(kind, m, x, states, None, weights)
    m.zero_grad()
    xa = t64(x._data, True)
    out_a, fin_a = unpack(kind, m(xa, pack_hx(kind, states)))
    xb = t64(np.random.default_rng(9).standard_normal(x.shape), True)
    out_b, _ = unpack(kind, m(xb, pack_hx(kind, states), lengths=[5, 2]))
    with autograd.no_grad():
        m(t64(-x._data), pack_hx(kind, states))
    (out_b * out_b).sum().backward()  # frees b's buffers into the pool
    m.zero_grad()
    out_c, _ = unpack(kind, m(t64(x._data * 3, True), pack_hx(kind, states)))  # takes them again
    (out_c * out_c).sum().backward(retain_graph=False)
    m.zero_grad()
    xa.grad = None
    np.testing.assert_array_equal(out_a._data, ref_out)
    loss = sum(((t * w).sum() for t, w in zip((out_a, *fin_a), weights)), t64(0.0))
    loss.backward()
    assert_close(xa.grad._data, ref_grads["x"], 1e-13, "dx")
    for n, p in m.named_parameters():
        assert_close(p.grad._data, ref_grads[n], 1e-13, n)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_layers(kind, default_dtype):
    """The default dtype is float32: both implementations keep it (outputs and gradients) and agree to
    float32 rounding; .double() converts a module, after which float64 input is what it takes."""
    default_dtype(np.float32)
    tg.manual_seed(0)
    m = make_layer(kind, 3, 4, dtype=None, num_layers=2, bidirectional=True)
    assert all(p.dtype == np.float32 for p in m.parameters())
    u = twin(m, "unrolled")
    xs = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    results = []
    for module in (m, u):
        x = tg.tensor(xs, requires_grad=True)
        out, _ = module(x, lengths=[6, 3])
        (out * out).sum().backward()
        assert out.dtype == np.float32 and x.grad.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in module.parameters())
        results.append([out._data, x.grad._data] + [p.grad._data for p in module.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    m.double()
    out, _ = m(t64(xs), lengths=[6, 3])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out._data, results[0][0], rtol=1e-4, atol=1e-5)


# --- very long sequences ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_T5000_forward_backward_without_recursion_error(kind):
    """Both implementations run a 5000-step sequence forward and backward (the unrolled one is a
    graph of ~10^5 nodes) under the default recursion limit, and agree."""
    limit = sys.getrecursionlimit()
    T = 5000
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((T, 2, 2))
    m = make_layer(kind, 2, 3, "fused")
    results = []
    for module in (m, twin(m, "unrolled")):
        x = t64(xs, True)
        out, finals = unpack(kind, module(x))
        ((out * out).sum() + finals[-1].sum()).backward()
        results.append([out._data, x.grad._data] + [p.grad._data for p in module.parameters()])
        del out, finals
    assert sys.getrecursionlimit() == limit
    for a, b in zip(*results):
        assert np.isfinite(a).all()
        assert_close(a, b, 1e-8)
    assert np.abs(results[0][1][0]).sum() > 0  # gradient reached the first step


# --- dropout between layers -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_between_layers_only_in_train_mode(kind):
    c = cfg(T=5, B=3, I=3, H=4, num_layers=2)
    m, x, states, _ = build(kind, "fused", c)
    plain = twin(m, "fused")  # same weights, dropout 0
    m.dropout = 0.5
    with autograd.no_grad():
        ref, ref_f = unpack(kind, plain(x, pack_hx(kind, states)))
        m.eval()
        ev1, ev_f = unpack(kind, m(x, pack_hx(kind, states)))
        ev2, _ = unpack(kind, m(x, pack_hx(kind, states)))
        m.train()
        tr1, tr_f = unpack(kind, m(x, pack_hx(kind, states)))
        tr2, _ = unpack(kind, m(x, pack_hx(kind, states)))
    np.testing.assert_array_equal(ev1._data, ev2._data)
    np.testing.assert_array_equal(ev1._data, ref._data)
    assert np.abs(tr1._data - tr2._data).max() > 1e-3 and np.abs(tr1._data - ref._data).max() > 1e-3
    # the first layer's state is never dropped, only its output on the way to the second layer
    np.testing.assert_array_equal(tr_f[0]._data[0], ref_f[0]._data[0])
    # nor is the last layer's output: it is returned as computed, so it ends in that layer's h_n
    np.testing.assert_array_equal(tr1._data[-1], tr_f[0]._data[-1])
    assert np.abs(tr_f[0]._data[1] - ref_f[0]._data[1]).max() > 1e-3
    # manual_seed fixes the masks, and both implementations draw them alike
    u = twin(m, "unrolled")
    u.dropout = 0.5
    values = []
    for module in (m, m, u):
        tg.manual_seed(11)
        values.append(forward_backward(kind, module, t64(x._data, True), [t64(s._data, True) for s in states],
                                       None, loss_weights(kind, plain, x, states, None)))
    for (va, ga), (vb, gb) in ((values[0], values[1]), (values[0], values[2])):
        for a, b in zip(va, vb):
            assert_close(a, b)
        for name in ga:
            assert_close(ga[name], gb[name], what=name)


# --- initialisation and parameter layout ------------------------------------------------------------
def torch_names(num_layers, bidirectional, bias):
    names = []
    for layer in range(num_layers):
        for sfx in [""] + (["_reverse"] if bidirectional else []):
            names += [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}"]
            if bias:
                names += [f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
    return names


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, False, False),
                                                           (2, True, False)])
def test_parameter_names_order_and_shapes_are_pytorchs(kind, num_layers, bidirectional, bias):
    I, H, G = 5, 7, GATES[kind]
    m = make_layer(kind, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    names = torch_names(num_layers, bidirectional, bias)
    assert list(m.state_dict()) == names == [n for n, _ in m.named_parameters()]
    D = 2 if bidirectional else 1
    for name, p in m.named_parameters():
        layer = int(name.split("_l")[1].split("_")[0])
        if name.startswith("weight_ih"):
            assert p.shape == (G * H, I if layer == 0 else D * H)
        elif name.startswith("weight_hh"):
            assert p.shape == (G * H, H)
        else:
            assert p.shape == (G * H,)
        assert p.requires_grad and p.dtype == np.float64


@pytest.mark.parametrize("kind", KINDS)
def test_default_init_is_uniform_in_one_over_sqrt_hidden(kind):
    scipy_stats = pytest.importorskip("scipy.stats")
    H = 64
    m = make_layer(kind, 10, H, num_layers=2, bidirectional=True)
    bound = 1 / math.sqrt(H)
    values = np.concatenate([p._data.ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound
    assert abs(values.mean()) < 0.02 * bound and abs(values.var() - bound ** 2 / 3) < 0.03 * bound ** 2
    assert scipy_stats.kstest(values, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-4
    for p in m.parameters():  # every tensor is filled, not just the first
        assert np.abs(p._data).max() > 0.9 * bound and len(np.unique(p._data)) == p._data.size


def test_manual_seed_fixes_init():
    tg.manual_seed(3)
    a = LSTM(3, 4, num_layers=2, dtype=np.float64)
    tg.manual_seed(3)
    b = LSTM(3, 4, num_layers=2, dtype=np.float64)
    c = LSTM(3, 4, num_layers=2, dtype=np.float64)
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(p._data, q._data, err_msg=n)
        assert not np.array_equal(p._data, r._data)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scheme", ["orthogonal", "identity"])
def test_recurrent_init_sets_each_gate_block(kind, scheme):
    H, G = 6, GATES[kind]
    m = make_layer(kind, 4, H, num_layers=2, bidirectional=True, recurrent_init=scheme)
    bound = 1 / math.sqrt(H)
    for name, p in m.named_parameters():
        if name.startswith("weight_hh"):
            blocks = [p._data[g * H:(g + 1) * H] for g in range(G)]
            for blk in blocks:
                if scheme == "identity":
                    np.testing.assert_array_equal(blk, np.eye(H))
                else:
                    np.testing.assert_allclose(blk @ blk.T, np.eye(H), atol=1e-12)
                    np.testing.assert_allclose(blk.T @ blk, np.eye(H), atol=1e-12)
                    assert np.abs(blk).max() > bound  # not the uniform init
            if scheme == "orthogonal" and G > 1:
                assert not np.allclose(blocks[0], blocks[1])  # each gate its own matrix
        else:  # input weights and biases keep the default init
            assert np.abs(p._data).max() <= bound and np.abs(p._data).max() > 0


def test_init_recurrent_method_with_gain():
    m = make_layer("gru", 3, 4, num_layers=2)
    m.init_recurrent("identity", gain=0.5)
    for name, p in m.named_parameters():
        if name.startswith("weight_hh"):
            np.testing.assert_array_equal(p._data, np.tile(0.5 * np.eye(4), (3, 1)))
    m.init_recurrent("orthogonal", gain=2.0)
    for blk in np.split(m.weight_hh_l1._data, 3):
        np.testing.assert_allclose(blk @ blk.T, 4 * np.eye(4), atol=1e-12)


def test_positional_arguments_follow_pytorch():
    m = LSTM(3, 4, 2, False, True, 0.25, True)  # num_layers, bias, batch_first, dropout, bidirectional
    assert (m.num_layers, m.bias, m.batch_first, m.dropout, m.bidirectional) == (2, False, True, 0.25, True)
    r = RNN(3, 4, 2, "relu", False, True, 0.25, True)  # RNN has nonlinearity fourth
    assert (r.num_layers, r.nonlinearity, r.bias, r.batch_first, r.dropout, r.bidirectional) == \
        (2, "relu", False, True, 0.25, True)
    g = GRU(3, 4, 3, True, False, 0.0, True)
    assert (g.num_layers, g.bias, g.batch_first, g.bidirectional) == (3, True, False, True)
    assert m.impl == r.impl == g.impl == "fused"
    p = LSTM(3, 4, 1, True, False, 0.0, False, 2, None, "float64")  # then proj_size, device, dtype
    assert p.proj_size == 2 and p.weight_hr_l0.dtype == np.float64
    q, e = RNN(3, 4, 1, "tanh", True, False, 0.0, False, None, "float64"), GRU(3, 4, 1, True, False, 0.0, False, "cpu")
    assert q.weight_hh_l0.dtype == np.float64 and e.proj_size == 0
    with pytest.raises(TypeError):
        GRU(3, 4, proj_size=2)  # PyTorch's GRU has no proj_size


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_dropout_on_a_single_layer_warns_as_pytorch(layer):
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1") as record:
        layer(3, 4, dropout=0.5)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(3, 4, 2, dropout=0.5)


def test_orthogonal_recurrent_init_keeps_the_norm_of_a_linear_recurrence():
    m = make_layer("rnn_tanh", 2, 8, recurrent_init="orthogonal")
    h = np.random.default_rng(0).standard_normal(8)
    w = m.weight_hh_l0._data
    for _ in range(200):
        h2 = w @ h
        assert abs(np.linalg.norm(h2) - np.linalg.norm(h)) < 1e-10
        h = h2


@pytest.mark.parametrize("value", [1.0, 3.5, 0.0, -2.0])
def test_lstm_forget_bias_sets_the_total_forget_bias(value):
    H = 5
    m = LSTM(3, H, num_layers=2, bidirectional=True, forget_bias=value, dtype=np.float64)
    bound = 1 / math.sqrt(H)
    for layer in range(2):
        for sfx in ("", "_reverse"):
            b_ih, b_hh = getattr(m, f"bias_ih_l{layer}{sfx}")._data, getattr(m, f"bias_hh_l{layer}{sfx}")._data
            np.testing.assert_array_equal((b_ih + b_hh)[H:2 * H], np.full(H, value))
            for s in (slice(0, H), slice(2 * H, 4 * H)):  # the other gates keep their init
                assert np.abs(b_ih[s]).max() <= bound and np.abs(b_ih[s]).max() > 0
                assert np.abs(b_hh[s]).max() <= bound and np.abs(b_hh[s]).max() > 0
    # and it shows in the computation: with zero input and state, the forget gate is sigmoid(value)
    m1 = LSTM(1, H, forget_bias=value, dtype=np.float64)
    for n in ("weight_ih_l0", "weight_hh_l0"):
        getattr(m1, n)._data[...] = 0.0
    out, (h, c) = m1(t64(np.zeros((2, 1, 1))), (t64(np.zeros((1, 1, H))), t64(np.ones((1, 1, H)))))
    b = (m1.bias_ih_l0._data + m1.bias_hh_l0._data)
    i, f, g = sigmoid(b[:H]), sigmoid(b[H:2 * H]), np.tanh(b[2 * H:3 * H])
    np.testing.assert_allclose(c._data[0, 0], f * (f * 1.0 + i * g) + i * g, rtol=1e-13)
    assert abs(f[0] - sigmoid(value)) < 1e-15


def test_forget_bias_needs_bias():
    with pytest.raises(ValueError, match="forget_bias"):
        LSTM(3, 4, bias=False, forget_bias=1.0)
