"""EchoStateNetwork: reservoir construction, the kernel against a NumPy loop, the closed-form readout
against np.linalg.lstsq, free-running generation, a readout trained by an optimiser, determinism and
bad arguments. Small sizes, so it also runs under NUMBA_DISABLE_JIT=1."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim
from tinygrad_rnn.nn import EchoStateNetwork
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.esn import ridge_readout


def esn(**kw):
    args = dict(input_size=2, reservoir_size=30, output_size=1, sparsity=0.5, dtype=np.float64)
    args.update(kw)
    return EchoStateNetwork(args.pop("input_size"), args.pop("reservoir_size"), args.pop("output_size"), **args)


def sequence(T=40, B=3, I=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (T, B, I))


def reference_states(net, u, teacher=None, x0=None):
    """The update x(t) = (1-a) x(t-1) + a tanh(W_in u + b + W x(t-1) + W_fb y(t-1)), step by step."""
    w_in, b, w = net.weight_in.numpy(), net.bias_in.numpy(), net.weight_res.numpy()
    w_fb = net.weight_fb.numpy()
    T, B, _ = u.shape
    x = np.zeros((B, net.reservoir_size)) if x0 is None else x0
    y = np.zeros((B, w_fb.shape[1]))
    out = []
    for t in range(T):
        pre = u[t] @ w_in.T + b + x @ w.T + y @ w_fb.T
        x = (1 - net.leak_rate) * x + net.leak_rate * np.tanh(pre)
        out.append(x)
        if teacher is not None:
            y = teacher[t]
    return np.stack(out)


@pytest.mark.parametrize("radius", [0.5, 0.9, 1.3])
def test_spectral_radius_equals_the_request(radius):
    net = esn(reservoir_size=60, spectral_radius=radius, sparsity=0.8)
    assert np.max(np.abs(np.linalg.eigvals(net.weight_res.numpy()))) == pytest.approx(radius, abs=1e-6)


def test_sparsity_and_scalings_shape_the_weights():
    net = esn(reservoir_size=200, sparsity=0.9, input_scaling=0.3, bias_scaling=0.1, feedback_scaling=0.7)
    w = net.weight_res.numpy()
    assert 0.08 < np.mean(w != 0) < 0.12
    assert np.abs(net.weight_in.numpy()).max() <= 0.3 and np.abs(net.weight_in.numpy()).max() > 0.25
    assert np.abs(net.bias_in.numpy()).max() <= 0.1
    assert net.weight_fb.shape == (200, 1) and np.abs(net.weight_fb.numpy()).max() <= 0.7
    assert esn().weight_fb.shape == (30, 0)


@pytest.mark.parametrize("leak", [1.0, 0.3])
@pytest.mark.parametrize("feedback", [0.0, 0.5])
def test_kernel_matches_a_numpy_loop(leak, feedback):
    net = esn(leak_rate=leak, feedback_scaling=feedback, bias_scaling=0.2)
    u = sequence()
    teacher = np.sin(np.arange(40))[:, None, None] * np.ones((1, 3, 1))
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, (3, 30))
    got = net.reservoir(u, teacher=teacher if feedback else None, state=x0).numpy()
    np.testing.assert_allclose(got, reference_states(net, u, teacher if feedback else None, x0), rtol=1e-12,
                               atol=1e-14)


def test_ridge_readout_equals_lstsq_on_the_same_states():
    net = esn(washout=5)
    u = sequence(T=60)
    y = np.sin(3 * u[..., :1]) + u[..., 1:] ** 2
    net.fit(u, y, ridge=0.0)
    phi = np.concatenate([net.reservoir(u).numpy(), u], axis=-1)[5:].reshape(-1, 32)
    design = np.hstack([phi, np.ones((len(phi), 1))])
    solution = np.linalg.lstsq(design, y[5:].reshape(-1, 1), rcond=None)[0]
    np.testing.assert_allclose(net.readout.weight.detach().numpy(), solution[:32].T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(net.readout.bias.detach().numpy(), solution[32], rtol=1e-7, atol=1e-9)


def test_ridge_readout_solves_the_regularised_normal_equations():
    rng = np.random.default_rng(2)
    phi, y = rng.standard_normal((50, 6)), rng.standard_normal((50, 2))
    w, b = ridge_readout(phi, y, 0.7)
    centred = phi - phi.mean(0)  # with an unpenalised bias, ridge acts on the centred problem
    expected = np.linalg.solve(centred.T @ centred + 0.7 * np.eye(6), centred.T @ (y - y.mean(0)))
    np.testing.assert_allclose(w, expected.T, rtol=1e-10)
    np.testing.assert_allclose(b, y.mean(0) - phi.mean(0) @ expected, rtol=1e-10)


def test_forward_after_fit_is_the_readout_of_the_states():
    net = esn(washout=5)
    u = sequence(T=60)
    y = np.tanh(u[..., :1] - u[..., 1:])
    net.fit(u, y)
    pred, final = net(u)
    states = net.reservoir(u).numpy()
    w, b = net.readout.weight.detach().numpy(), net.readout.bias.detach().numpy()
    np.testing.assert_allclose(pred.detach().numpy(), np.concatenate([states, u], -1) @ w.T + b, rtol=1e-12)
    assert np.mean((pred.detach().numpy()[5:] - y[5:]) ** 2) < 0.02 * y.var()
    np.testing.assert_allclose(final.numpy(), states[-1])


def test_free_run_of_a_sine_wave_stays_on_the_wave():
    net = EchoStateNetwork(0, 100, 1, spectral_radius=0.8, feedback_scaling=1.0, bias_scaling=0.2, sparsity=0.9,
                           ridge=1e-8, washout=100, dtype=np.float64)
    wave = 0.5 * np.sin(2 * np.pi * np.arange(700) / 25.0)
    train = wave[:600, None, None]
    state = net.fit(np.zeros((600, 1, 0)), train)
    out, _ = net.generate(steps=100, state=state, last_output=train[-1])
    assert np.abs(out.numpy()[:, 0, 0] - wave[600:]).max() < 0.02


def test_generate_equals_a_teacher_forced_run_on_its_own_outputs():
    net = esn(feedback_scaling=0.5, washout=5)
    u = sequence(T=60)
    net.fit(u, np.sin(u[..., :1]))
    v = sequence(T=20, seed=3)
    out, final = net.generate(v)
    forced, forced_final = net(v, teacher=out)
    np.testing.assert_allclose(forced.detach().numpy(), out.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forced_final.numpy(), final.numpy(), rtol=1e-12, atol=1e-14)


def test_readout_trained_by_an_optimiser_approaches_the_ridge_solution():
    u = sequence(T=80, B=4)
    y = 0.5 * u[..., :1] + 0.3 * np.roll(u[..., 1:], 1, axis=0)  # needs one step of memory
    net = esn(washout=10, ridge=1e-6)
    closed = esn(washout=10, ridge=1e-6)
    closed.load_state_dict(net.state_dict())
    closed.fit(u, y)
    best = F.mse_loss(closed(u)[0][10:], tg.tensor(y[10:])).item()
    opt = optim.Adam(net.parameters(), lr=0.05)
    for _ in range(300):
        loss = F.mse_loss(net(u)[0][10:], tg.tensor(y[10:]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert [n for n, _ in net.named_parameters()] == ["readout.weight", "readout.bias"]
    assert best < 0.01 * y.var()
    assert loss.item() < 1.5 * best + 1e-4


def test_readout_gradient_checks():
    net = esn(reservoir_size=8, washout=0)
    u = sequence(T=6, B=2)
    with tg.no_grad():
        net.readout.weight.copy_(np.random.default_rng(4).standard_normal((1, 10)))
    assert tg.gradcheck(lambda w, b: (net(u)[0] ** 2).sum(), (net.readout.weight, net.readout.bias))


def test_deterministic_under_manual_seed_and_state_dict_round_trip():
    tg.manual_seed(7)
    a = esn(state_noise=1e-3, washout=10)
    tg.manual_seed(7)
    b = esn(state_noise=1e-3, washout=10)
    u, y = sequence(T=50), sequence(T=50, I=1, seed=5)
    tg.manual_seed(8)
    a.fit(u, y)
    tg.manual_seed(8)
    b.fit(u, y)
    np.testing.assert_array_equal(a(u)[0].detach().numpy(), b(u)[0].detach().numpy())
    c = esn()
    assert not np.array_equal(c.weight_res.numpy(), a.weight_res.numpy())
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c(u)[0].detach().numpy(), a(u)[0].detach().numpy())


@pytest.mark.parametrize("kwargs,name", [
    (dict(spectral_radius=0.0), "spectral_radius"), (dict(spectral_radius=-1.0), "spectral_radius"),
    (dict(leak_rate=0.0), "leak_rate"), (dict(leak_rate=1.5), "leak_rate"), (dict(sparsity=1.0), "sparsity"),
    (dict(input_scaling=-1.0), "input_scaling"), (dict(ridge=-1.0), "ridge"),
    (dict(reservoir_size=0), "reservoir_size"),
    (dict(washout=-1), "washout"), (dict(feedback_scaling=-0.1), "feedback_scaling"),
])
def test_bad_constructor_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        esn(**kwargs)


def test_bad_shapes_name_the_argument_and_change_nothing():
    net = esn(washout=5)
    before = net.readout.weight.detach().numpy().copy()
    with pytest.raises(ValueError, match="input"):
        net(sequence(I=3))
    with pytest.raises(ValueError, match="target"):
        net.fit(sequence(), sequence(I=2))
    with pytest.raises(ValueError, match="washout"):
        net.fit(sequence(T=5), sequence(T=5, I=1))
    with pytest.raises(ValueError, match="state"):
        net(sequence(), state=np.zeros((2, 30)))
    with pytest.raises(ValueError, match="teacher"):
        esn(feedback_scaling=0.5)(sequence())
    with pytest.raises(ValueError, match="input"):
        net.generate(steps=3)
    np.testing.assert_array_equal(net.readout.weight.detach().numpy(), before)
