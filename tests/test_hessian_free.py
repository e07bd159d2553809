"""optim.HessianFree and its conjugate gradient: exact on quadratics, the damping rule, warm starts,
structural damping, a small RNN task solved, bad arguments refused."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import curvature, nn, optim
from tinygrad_rnn.data import adding_problem
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.optim.hessian_free import conjugate_gradient


def spd(n, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, n))
    return q @ q.T + 0.1 * np.eye(n), rng.standard_normal(n)


def test_conjugate_gradient_solves_an_n_dimensional_quadratic_in_n_steps():
    a, b = spd(12)
    kept, x, iters = conjugate_gradient(lambda v: a @ v, b, np.zeros(12), max_iters=12, min_iters=100, tol=0.0)
    assert iters == 12
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-6, atol=1e-8)
    assert kept[-1][1] == pytest.approx(-0.5 * b @ np.linalg.solve(a, b), rel=1e-10)  # φ at the optimum


def test_conjugate_gradient_keeps_iterates_on_a_geometric_schedule_with_decreasing_phi():
    a, b = spd(40, seed=1)
    kept, x, iters = conjugate_gradient(lambda v: a @ v, b, np.zeros(40), max_iters=30, min_iters=100, tol=0.0)
    phis = [phi for _, phi in kept]
    assert all(p > q for p, q in zip(phis, phis[1:]))
    for xi, phi in kept:
        assert phi == pytest.approx(0.5 * xi @ a @ xi - b @ xi, rel=1e-10)
    assert np.array_equal(kept[-1][0], x) and len(kept) < 15


def test_conjugate_gradient_stops_early_on_relative_progress():
    a, b = spd(200, seed=2)
    _, _, iters = conjugate_gradient(lambda v: a @ v, b, np.zeros(200), max_iters=200, min_iters=5, tol=1e-2)
    assert 5 < iters < 200


def test_hessian_free_minimises_a_convex_quadratic_in_one_step_of_n_cg_iterations():
    """Least squares is its own Gauss-Newton model: with tiny damping one step lands on the optimum."""
    rng = np.random.default_rng(3)
    n = 10
    X, w_true = rng.standard_normal((40, n)), rng.standard_normal(n)
    y = X @ w_true
    w = tg.tensor(np.zeros(n), requires_grad=True)
    opt = optim.HessianFree([w], F.mse_loss, damping=1e-10, max_cg_iters=n, min_cg_iters=100)
    start = opt.step(lambda: (tg.tensor(X) @ w, tg.tensor(y))).item()
    assert start == pytest.approx(np.mean(y ** 2))
    assert opt.last["cg_iters"] == n and opt.last["step_size"] == 1.0
    np.testing.assert_allclose(w.detach().numpy(), w_true, rtol=1e-6)
    assert opt.last["rho"] == pytest.approx(1.0, abs=1e-4)


def test_damping_shrinks_when_the_model_is_trusted_and_the_direction_is_kept():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    w = tg.tensor(np.zeros(5), requires_grad=True)
    opt = optim.HessianFree([w], F.mse_loss, damping=1.0)
    opt.step(lambda: (tg.tensor(X) @ w, tg.tensor(y)))
    assert opt.param_groups[0]["damping"] == pytest.approx(2.0 / 3.0)  # ρ ≈ 1 on a quadratic
    assert opt.state[w]["direction"].shape == (5,) and opt.state[w]["step"] == 1


def test_damping_grows_when_the_quadratic_model_overestimates_the_decrease():
    """f = ½(x³ - 10)² from x = 1: the Gauss-Newton step lands at x = 4, where f is larger, so ρ < 0."""
    x = tg.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.HessianFree([x], lambda z, t: ((z - t) ** 2).sum() * 0.5, damping=1e-3, line_search=False)
    opt.step(lambda: (x * x * x, tg.tensor(np.array([10.0]))))
    assert opt.last["rho"] < 0 and opt.param_groups[0]["damping"] == pytest.approx(1.5e-3)


def test_the_line_search_refuses_a_step_that_increases_the_objective():
    x = tg.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.HessianFree([x], lambda z, t: ((z - t) ** 2).sum(), damping=1e-6)
    before = ((np.exp(3.0) - 1) ** 2)
    opt.step(lambda: (x.exp(), tg.tensor(np.ones(1))))
    assert (np.exp(x.detach().numpy()[0]) - 1) ** 2 < before


class TinyRNN(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.rnn = nn.RNN(2, hidden, impl="unrolled", dtype=np.float64)
        self.head = nn.Linear(hidden, 1, dtype=np.float64)

    def forward(self, x):
        out, _ = self.rnn(tg.tensor(x))
        return self.head(out[-1]), out


def test_structural_damping_adds_the_hidden_state_curvature():
    """The CG matrix with structural damping is G + (λμ / n_h) J_hᵀ J_h, products checked term by term."""
    net = TinyRNN(4)
    x, y = adding_problem(6, 5, rng=0, dtype=np.float64)
    params = list(net.parameters())
    opt = optim.HessianFree(params, F.mse_loss, damping=2.0, structural_damping=0.5)
    pred, hidden = net(x)
    v = [np.random.default_rng(5).standard_normal(p.shape) for p in params]
    damped = opt._curvature(pred, tg.tensor(y), (hidden,), 2.0 * 0.5)(v)
    plain = curvature.GaussNewton(pred, params, lambda z: F.mse_loss(z, tg.tensor(y)))(v)
    _, jv = curvature.jvp(lambda *p: net(x)[1], params, v)
    _, jtjv = curvature.vjp(lambda *p: net(x)[1], params, jv)
    for a, b, c in zip(damped, plain, jtjv):
        np.testing.assert_allclose(a.numpy(), b.numpy() + 1.0 / hidden.numel() * c.numpy(), rtol=1e-10, atol=1e-12)


def test_hessian_free_solves_the_adding_problem_at_T10():
    tg.manual_seed(0)
    net = TinyRNN(8)
    x, y = adding_problem(200, 10, rng=0, dtype=np.float64)
    xv, yv = adding_problem(500, 10, rng=1, dtype=np.float64)
    opt = optim.HessianFree(net.parameters(), F.mse_loss, damping=1.0, structural_damping=0.3, max_cg_iters=50)

    def closure():
        pred, hidden = net(x)
        return pred, tg.tensor(y), hidden

    for _ in range(20):
        opt.step(closure)
    with tg.no_grad():
        val = F.mse_loss(net(xv)[0], tg.tensor(yv)).item()
    assert val < 0.01  # the always-1 baseline is 1/6


@pytest.mark.parametrize("kwargs,error,name", [
    (dict(damping=0.0), ValueError, "damping"), (dict(damping=-1.0), ValueError, "damping"),
    (dict(max_cg_iters=0), ValueError, "max_cg_iters"), (dict(cg_decay=-0.5), ValueError, "cg_decay"),
    (dict(structural_damping=-1.0), ValueError, "structural_damping"),
])
def test_bad_options_are_refused(kwargs, error, name):
    with pytest.raises(error, match=name):
        optim.HessianFree([tg.tensor(np.zeros(2), requires_grad=True)], F.mse_loss, **kwargs)


def test_a_closure_of_the_wrong_form_is_refused_and_nothing_changes():
    w = tg.tensor(np.ones(2), requires_grad=True)
    opt = optim.HessianFree([w], F.mse_loss)
    with pytest.raises(ValueError, match="closure"):
        opt.step(lambda: (w * 2.0).sum())
    with pytest.raises(TypeError, match="loss_fn"):
        optim.HessianFree([w], "mse")
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 1.0])
    assert opt.state == {}


def test_a_closure_failing_mid_step_leaves_the_parameters_where_they_were():
    w = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.HessianFree([w], F.mse_loss)
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 2:  # the first evaluation at a trial point
            raise KeyboardInterrupt
        return w * 3.0, tg.tensor(np.zeros(2))

    with pytest.raises(KeyboardInterrupt):
        opt.step(closure)
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, -2.0])
