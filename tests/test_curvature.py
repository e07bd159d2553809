"""Curvature products (jvp, vjp, hvp, gnvp) against central differences and torch.func, in float64,
through impl="unrolled" RNN, LSTM and GRU layers (parameters and input as the differentiated inputs)."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import autograd, curvature
from tinygrad_rnn.nn import RNN
from tinygrad_rnn.nn import functional as F

from recurrent_table import make_layer, t64, torch_twin

KINDS = ["rnn_tanh", "lstm", "gru"]
EPS = 1e-6
TOL = dict(rtol=1e-6, atol=1e-8)


def make(kind):
    layer = make_layer(kind, 3, 4, "unrolled")
    return layer, t64(np.random.default_rng(1).standard_normal((5, 2, 3)), True)


def outputs_of(layer):
    """fn(*params, x) -> (output, h_n): params are leaves used as they are, x is passed through."""
    def fn(*args):
        out, h = layer(args[-1])
        return out, (h[0] if isinstance(h, tuple) else h)
    return fn


def scalar_of(layer):
    def f(*args):
        out, h = outputs_of(layer)(*args)
        return (out.tanh() * out).sum() + (h * h * h).sum()
    return f


def inputs_of(layer, x):
    return tuple(layer.parameters()) + (x,)


def random_like(ts, seed=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(t.shape) for t in ts]


def shifted(ts, vs, step, fn):
    """fn() evaluated with every t moved by step * v, then restored."""
    saved = [t.detach().numpy().copy() for t in ts]
    with autograd.no_grad():
        for t, v, s in zip(ts, vs, saved):
            t.copy_(s + step * v)
    try:
        return fn()
    finally:
        with autograd.no_grad():
            for t, s in zip(ts, saved):
                t.copy_(s)


def central(ts, vs, fn):
    plus, minus = shifted(ts, vs, EPS, fn), shifted(ts, vs, -EPS, fn)
    return [(a - b) / (2 * EPS) for a, b in zip(plus, minus)]


def np_outputs(fn, ts):
    with autograd.no_grad():
        return [o.numpy().copy() for o in fn(*ts)]


def np_grad(f, ts):
    return [g.numpy().copy() for g in autograd.grad(f(*ts), list(ts))]


# --- finite differences -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["forward", "double_backward"])
@pytest.mark.parametrize("kind", KINDS)
def test_jvp_matches_central_differences(kind, mode):
    layer, x = make(kind)
    ins = inputs_of(layer, x)
    vs = random_like(ins)
    fn = outputs_of(layer)
    out, jv = curvature.jvp(fn, ins, vs, mode=mode)
    expected = central(ins, vs, lambda: np_outputs(fn, ins))
    np.testing.assert_allclose(out[0].numpy(), np_outputs(fn, ins)[0])
    for a, b in zip(jv, expected):
        np.testing.assert_allclose(a.numpy(), b, **TOL)


def test_forward_mode_through_linear_is_the_product_rule_plus_the_bias():
    """F.linear's tangent rule (the recurrent steps' x W_ihᵀ + b and h W_hhᵀ + b): with every
    argument's tangent, and with only the bias's (then it is broadcast over the rows)."""
    rng = np.random.default_rng(7)
    x, w, b = (t64(rng.standard_normal(shape), True) for shape in ((3, 4), (5, 4), (5,)))
    vx, vw, vb = random_like([x, w, b])
    _, jv = curvature.jvp(lambda x, w, b: F.linear(x, w, b), [x, w, b], [vx, vw, vb], mode="forward")
    np.testing.assert_allclose(jv.numpy(), vx @ w.detach().numpy().T + x.detach().numpy() @ vw.T + vb, rtol=1e-12)
    _, jb = curvature.jvp(lambda b: F.linear(x.detach(), w.detach(), b), [b], [vb], mode="forward")
    assert jb.shape == (3, 5) and np.array_equal(jb.numpy(), np.broadcast_to(vb, (3, 5)))


@pytest.mark.parametrize("kind", KINDS)
def test_vjp_is_the_transpose_of_jvp_and_matches_differences(kind):
    layer, x = make(kind)
    ins = inputs_of(layer, x)
    fn = outputs_of(layer)
    us = random_like(np_outputs(fn, ins), seed=3)
    vs = random_like(ins)
    _, uj = curvature.vjp(fn, ins, us)
    _, jv = curvature.jvp(fn, ins, vs)
    lhs = sum(float(np.sum(a.numpy() * v)) for a, v in zip(uj, vs))
    rhs = sum(float(np.sum(u * b.numpy())) for u, b in zip(us, jv))
    fd = sum(float(np.sum(u * d)) for u, d in zip(us, central(ins, vs, lambda: np_outputs(fn, ins))))
    assert lhs == pytest.approx(rhs, rel=1e-10)
    assert lhs == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_hvp_matches_differences_of_the_gradient(kind):
    layer, x = make(kind)
    ins = inputs_of(layer, x)
    vs = random_like(ins)
    f = scalar_of(layer)
    value, hv = curvature.hvp(f, ins, vs)
    expected = central(ins, vs, lambda: np_grad(f, ins))
    assert value.numel() == 1
    for a, b in zip(hv, expected):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_gnvp_equals_jt_h_j_v_from_differences(kind):
    """For L = Σ w·z² (Hessian 2 diag(w)), G v = Jᵀ (2 w ⊙ J v), with J v by central differences."""
    layer, x = make(kind)
    ins = inputs_of(layer, x)
    vs = random_like(ins)
    fn = outputs_of(layer)
    ws = [np.abs(w) for w in random_like(np_outputs(fn, ins), seed=4)]

    def loss(out, h):
        return (out * out * ws[0]).sum() + (h * h * ws[1]).sum()

    value, gv = curvature.gnvp(fn, loss, ins, vs)
    jv_fd = central(ins, vs, lambda: np_outputs(fn, ins))
    _, expected = curvature.vjp(fn, ins, [2 * w * j for w, j in zip(ws, jv_fd)])
    with autograd.no_grad():
        assert value.item() == pytest.approx(loss(*fn(*ins)).item(), rel=1e-12)
    for a, b in zip(gv, expected):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_tangents_and_double_backward_agree_and_auto_takes_the_forward_pass(kind):
    layer, x = make(kind)
    ins = inputs_of(layer, x)
    out, h = outputs_of(layer)(*ins)
    vs = random_like(ins)
    auto = curvature.JacobianProduct((out, h), ins)
    assert auto.plan is not None
    for a, b in zip(auto(vs), curvature.JacobianProduct((out, h), ins, mode="double_backward")(vs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_forward_mode_refuses_an_op_without_a_tangent_rule():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = tg.softmax(x, dim=0)
    with pytest.raises(ValueError, match="double_backward"):
        curvature.JacobianProduct(y, x, mode="forward")
    _, jv = curvature.jvp(lambda t: tg.softmax(t, dim=0), x, np.array([1.0, 0.0]))  # auto falls back
    p = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    np.testing.assert_allclose(jv.numpy(), p * (np.array([1.0, 0.0]) - p[0]), rtol=1e-12)


def test_gauss_newton_is_symmetric_positive_semidefinite_for_a_convex_loss():
    layer, x = make("lstm")
    params = list(layer.parameters())
    out, _ = layer(x)
    target = np.random.default_rng(5).standard_normal(out.shape)
    gn = curvature.GaussNewton(out, params, lambda z: F.mse_loss(z, tg.tensor(target)))
    a, b = random_like(params, 6), random_like(params, 7)
    ga, gb = gn(a), gn(b)
    dot = lambda p, q: sum(float(np.sum(s * (t.numpy() if isinstance(t, tg.Tensor) else t))) for s, t in zip(p, q))
    assert dot(a, gb) == pytest.approx(dot(b, ga), rel=1e-10)
    assert dot(a, ga) > 0 and dot(b, gb) > 0


def test_gauss_newton_equals_hessian_for_a_linear_model():
    """z = A x is linear, so the Gauss-Newton matrix is the whole Hessian AᵀHA (here H = 2I/n)."""
    rng = np.random.default_rng(8)
    A = rng.standard_normal((6, 4))
    xs = tg.tensor(rng.standard_normal(4), requires_grad=True)
    v = rng.standard_normal(4)
    _, gv = curvature.gnvp(lambda x: tg.tensor(A) @ x, lambda z: (z * z).mean(), xs, v)
    _, hv = curvature.hvp(lambda x: ((tg.tensor(A) @ x) ** 2).mean(), xs, v)
    np.testing.assert_allclose(gv.numpy(), 2 * A.T @ A @ v / 6, rtol=1e-12)
    np.testing.assert_allclose(hv.numpy(), gv.numpy(), rtol=1e-12)


def test_inputs_that_are_not_leaves_are_replaced_by_copies_and_left_untouched():
    base = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = base * 3.0  # a non-leaf: jvp differentiates with respect to a detached copy of it
    _, jv = curvature.jvp(lambda t: t * t, y, np.array([1.0, 0.0]))
    np.testing.assert_allclose(jv.numpy(), [6.0, 0.0])
    assert base.grad is None


def test_autograd_re_exports_the_products():
    assert (autograd.jvp, autograd.vjp, autograd.hvp, autograd.gnvp) == \
        (curvature.jvp, curvature.vjp, curvature.hvp, curvature.gnvp)


def test_products_of_an_unused_input_are_zero():
    a = tg.tensor(np.ones(2), requires_grad=True)
    b = tg.tensor(np.ones(3), requires_grad=True)
    _, (ga, gb) = curvature.vjp(lambda p, q: p * 2.0, (a, b), np.ones(2))
    np.testing.assert_array_equal(gb.numpy(), np.zeros(3))
    _, (ha, hb) = curvature.hvp(lambda p, q: (p * p).sum(), (a, b), (np.ones(2), np.ones(3)))
    np.testing.assert_array_equal(ha.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(hb.numpy(), np.zeros(3))


@pytest.mark.parametrize("call", [
    lambda x: curvature.jvp(lambda t: t * 2.0, x, np.ones(3)),
    lambda x: curvature.vjp(lambda t: t * 2.0, x, [np.ones(2), np.ones(2)]),
    lambda x: curvature.hvp(lambda t: t * 2.0, x, np.ones(2)),
])
def test_bad_vectors_raise_value_errors_naming_v(call):
    with pytest.raises(ValueError, match="v"):
        call(tg.tensor(np.ones(2), requires_grad=True))


def test_fused_layers_refuse_second_order_products_naming_unrolled():
    layer = RNN(3, 4, dtype=np.float64)
    x = tg.tensor(np.ones((2, 1, 3)))
    with pytest.raises(RuntimeError, match="unrolled"):
        curvature.jvp(lambda *p: layer(x)[0], tuple(layer.parameters()), random_like(layer.parameters()))


# --- torch.func -------------------------------------------------------------------------------------
def torch_function(layer):
    """PyTorch's twin of layer as fn(*params, x) -> (output, h_n), with torch."""
    torch = pytest.importorskip("torch")
    twin = torch_twin(layer)
    names = [n for n, _ in layer.named_parameters()]

    def fn(*args):
        out, h = torch.func.functional_call(twin, dict(zip(names, args[:-1])), (args[-1],))
        return out, (h[0] if isinstance(h, tuple) else h)
    return torch, fn


@pytest.mark.parametrize("kind", KINDS)
def test_products_match_torch_func(kind):
    layer, x = make(kind)
    torch, tfn = torch_function(layer)
    ins = inputs_of(layer, x)
    primals = tuple(torch.tensor(t.detach().numpy()) for t in ins)
    vs = random_like(ins)
    tvs = tuple(torch.tensor(v) for v in vs)
    fn = outputs_of(layer)

    _, jv = curvature.jvp(fn, ins, vs)
    _, tjv = torch.func.jvp(tfn, primals, tvs)
    for a, b in zip(jv, tjv):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)

    us = random_like(jv, seed=3)
    _, uj = curvature.vjp(fn, ins, us)
    _, pull = torch.func.vjp(tfn, *primals)
    for a, b in zip(uj, pull(tuple(torch.tensor(u) for u in us))):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)

    def tscalar(*args):
        out, h = tfn(*args)
        return (out.tanh() * out).sum() + (h ** 3).sum()

    _, hv = curvature.hvp(scalar_of(layer), ins, vs)
    _, thv = torch.func.jvp(torch.func.grad(tscalar, argnums=tuple(range(len(ins)))), primals, tvs)
    for a, b in zip(hv, thv):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-11)

    target = np.random.default_rng(9).standard_normal(jv[0].shape)
    _, gv = curvature.gnvp(fn, lambda out, h: F.mse_loss(out, tg.tensor(target)) + (h * h).sum(), ins, vs)
    tloss = lambda out, h: ((out - torch.tensor(target)) ** 2).mean() + (h * h).sum()
    z, tj = torch.func.jvp(tfn, primals, tvs)
    _, hz = torch.func.jvp(torch.func.grad(tloss, argnums=(0, 1)), z, tj)
    tgv = pull(hz)
    for a, b in zip(gv, tgv):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
