"""Optimizers and learning-rate schedulers: convergence, in-place updates, state, groups, errors."""

import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.serialization  # noqa: F401  (tg.serialization)
from tinygrad_rnn import optim, ops
from tinygrad_rnn.optim import lr_scheduler

CONFIGS = [
    (optim.SGD, dict(lr=0.02)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, dampening=0.1)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=1e-3)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.AdamW, dict(lr=0.05, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.005, centered=True, momentum=0.5, weight_decay=1e-3)),
    (optim.Adagrad, dict(lr=0.3)),
    (optim.Adagrad, dict(lr=0.3, lr_decay=1e-3, initial_accumulator_value=0.1)),
    (optim.Adadelta, dict(lr=3.0)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05, decoupled_weight_decay=True, weight_decay=1e-3)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.Rprop, dict(lr=0.01)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CONFIGS)]
OPTIMIZERS = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.Adadelta, optim.Adamax,
              optim.NAdam, optim.RAdam, optim.Rprop]


def params(seed=0):
    rng = np.random.default_rng(seed)
    return [tg.tensor(rng.standard_normal((3, 2)), requires_grad=True),
            tg.tensor(rng.standard_normal(4), requires_grad=True)]


def quadratic(ps):
    """An ill-conditioned quadratic with its minimum at 1."""
    w, b = ps
    return (((w - 1) ** 2) * np.array([[1.0, 10.0]])).sum() + ((b - 1) ** 2).sum()


def rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 10 * (y - x ** 2) ** 2


def train(opt, ps, loss_fn, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(ps)
        loss.backward()
        opt.step()
    return loss_fn(ps).item()


def fill_grads(ps, rng):
    for p in ps:
        p.grad = tg.tensor(rng.standard_normal(p.shape))


# --- convergence --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=IDS)
def test_decreases_quadratic(cls, kwargs):
    ps = params()
    start = quadratic(ps).item()
    assert train(cls(ps, **kwargs), ps, quadratic, 300) < 0.05 * start


@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=IDS)
def test_decreases_rosenbrock(cls, kwargs):
    xy = [tg.tensor(np.array([-1.0, 1.5]), requires_grad=True)]
    start = rosenbrock(xy[0]).item()
    kwargs = dict(kwargs, lr=kwargs["lr"] / 2)
    assert train(cls(xy, **kwargs), xy, lambda p: rosenbrock(p[0]), 500) < 0.1 * start


@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=IDS)
def test_trains_logistic_mlp(cls, kwargs):
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((64, 5)))
    y = tg.tensor((x._data[:, 0] + x._data[:, 1] ** 2 > 1).astype(np.int64) + (x._data[:, 2] > 0.5))
    w1 = tg.tensor(rng.standard_normal((5, 16)) * 0.5, requires_grad=True)
    b1 = tg.tensor(np.zeros(16), requires_grad=True)
    w2 = tg.tensor(rng.standard_normal((16, 3)) * 0.5, requires_grad=True)
    b2 = tg.tensor(np.zeros(3), requires_grad=True)

    def loss_fn(_):
        return ops.cross_entropy((x @ w1 + b1).tanh() @ w2 + b2, y)

    start = loss_fn(None).item()
    assert train(cls([w1, b1, w2, b2], **kwargs), None, loss_fn, 100) < 0.7 * start


# --- the update itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_updates_in_place_and_skips_params_without_grad(cls):
    ps = params()
    arrays = [p._data for p in ps]
    before = [a.copy() for a in arrays]
    grad = np.ones(ps[0].shape)
    ps[0].grad = tg.tensor(grad)
    opt = cls(ps, lr=0.1)
    opt.step()
    assert all(p._data is a for p, a in zip(ps, arrays))
    assert not np.allclose(ps[0]._data, before[0])
    np.testing.assert_array_equal(ps[1]._data, before[1])
    assert ps[1] not in opt.state
    np.testing.assert_array_equal(ps[0].grad._data, grad)
    assert ps[0].grad_fn is None and ps[0].is_leaf


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_float32_stays_float32(cls):
    p = tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    p.grad = tg.tensor(np.ones(3, dtype=np.float32))
    opt = cls([p], lr=0.1)
    opt.step()
    assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


def test_sgd_closed_form():
    p = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    for _ in range(3):
        p.grad = tg.tensor(np.array([1.0, -1.0]))
        opt.step()
    # buffers 1, 1.5, 1.75 -> total step 0.1 * 4.25
    np.testing.assert_allclose(p._data, [1.0 - 0.425, 2.0 + 0.425])


def test_adam_first_step_is_lr_times_sign():
    p = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    p.grad = tg.tensor(np.array([0.5, -3.0, 1e-3]))
    optim.Adam([p], lr=0.01, eps=0).step()
    np.testing.assert_allclose(p._data, [0.99, 2.01, 2.99])


def test_adamw_decays_weights_without_gradient_scaling():
    p = tg.tensor(np.array([2.0]), requires_grad=True)
    p.grad = tg.tensor(np.array([0.0]))
    optim.AdamW([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p._data, [2.0 * (1 - 0.05)])


def test_adagrad_honours_group_initial_accumulator_value():
    a, b = (tg.tensor(np.zeros(1), requires_grad=True) for _ in range(2))
    opt = optim.Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 3.0}], lr=1.0)
    a.grad = b.grad = tg.tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose([a._data[0], b._data[0]], [-1.0, -0.5], rtol=1e-9)


def test_param_groups_use_their_own_lr():
    a, b = tg.tensor(np.zeros(2), requires_grad=True), tg.tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.1, momentum=0.0)
    a.grad, b.grad = tg.tensor(np.ones(2)), tg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a._data, [-0.5, -0.5])
    np.testing.assert_allclose(b._data, [-0.1, -0.1])
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.0
    c = tg.tensor(np.zeros(1), requires_grad=True)
    opt.add_param_group({"params": c, "lr": 2.0})
    c.grad = tg.tensor(np.ones(1))
    opt.step()
    np.testing.assert_allclose(c._data, [-2.0])


def test_closure_runs_with_grad_enabled_and_returns_loss():
    ps = params()
    opt = optim.SGD(ps, lr=0.01)

    def closure():
        assert tg.is_grad_enabled()
        opt.zero_grad()
        loss = quadratic(ps)
        loss.backward()
        return loss

    with tg.no_grad():
        first = opt.step(closure)
    second = opt.step(closure)
    assert second.item() < first.item()
    assert opt.step() is None


def test_zero_grad():
    ps = params()
    fill_grads(ps, np.random.default_rng(0))
    opt = optim.Adam(ps)
    shared = ps[0].grad._data
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad._data.any() for p in ps)
    assert shared.any()
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


# --- state_dict ---------------------------------------------------------------------------------
def through_npz(obj, path):
    """Save to a plain .npz and read back in the bluntest form: str keys, lists as dicts, all Tensors."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}/", v)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for k, v in enumerate(value):
                walk(f"{prefix}{k}/", v)
        else:
            flat[prefix[:-1]] = np.asarray(value)

    walk("", obj)
    np.savez(path, **flat)
    out = {}
    with np.load(path, allow_pickle=False) as f:
        for key in f.files:
            *parents, leaf = key.split("/")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = tg.tensor(f[key])
    return out


def test_state_dict_format():
    ps = params()
    opt = optim.Adam([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5}], amsgrad=True)
    fill_grads(ps, np.random.default_rng(0))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == [0.9, 0.999]
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"] == 1
    sd["state"][0]["exp_avg"][...] = 123.0
    assert not (opt.state[ps[0]]["exp_avg"] == 123.0).any()


@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=IDS)
@pytest.mark.parametrize("via", ["memory", "npz", "save"])
def test_resume_equals_uninterrupted(cls, kwargs, via, tmp_path):
    rng = np.random.default_rng(3)
    grads = [[rng.standard_normal(s) for s in ((3, 2), (4,))] for _ in range(20)]

    def run(opt, ps, gs):
        for step_grads in gs:
            for p, g in zip(ps, step_grads):
                p.grad = tg.tensor(g)
            opt.step()

    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": kwargs["lr"] / 2}]  # noqa: E731
    full = params()
    run(cls(groups(full), **kwargs), full, grads)

    half = params()
    first = cls(groups(half), **kwargs)
    run(first, half, grads[:10])
    sd = first.state_dict()
    if via == "npz":
        sd = through_npz(sd, tmp_path / "opt.npz")
    elif via == "save":
        tg.serialization.save(sd, tmp_path / "opt.npz")
        sd = tg.serialization.load(tmp_path / "opt.npz")
    resumed = cls(groups(half), **{**kwargs, "lr": 123.0})
    resumed.load_state_dict(sd)
    assert resumed.param_groups[1]["lr"] == kwargs["lr"] / 2
    assert resumed.param_groups[0].get("betas", ()) == first.param_groups[0].get("betas", ())
    run(resumed, half, grads[10:])
    for a, b in zip(full, half):
        np.testing.assert_array_equal(a._data, b._data)


def test_load_state_dict_validates_and_leaves_state_untouched():
    ps = params()
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    fill_grads(ps, np.random.default_rng(0))
    opt.step()
    good = opt.state_dict()
    other = optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(other.state_dict())
    small = optim.SGD(ps[:1], lr=0.1)
    with pytest.raises(ValueError, match="has 1 parameters"):
        opt.load_state_dict(small.state_dict())
    bad = opt.state_dict()
    bad["state"][1]["momentum_buffer"] = np.zeros(7)
    bad["param_groups"][0]["lr"] = 5.0
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][9] = bad["state"][0]
    with pytest.raises(ValueError, match="parameter 9"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == good["param_groups"]
    for k, state in good["state"].items():
        np.testing.assert_array_equal(after["state"][k]["momentum_buffer"], state["momentum_buffer"])


# --- argument checking ----------------------------------------------------------------------------
def _p():
    return tg.tensor(np.zeros(2), requires_grad=True)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: optim.SGD([_p()], lr=-0.1), ValueError, "lr -0.1"),
    (lambda: optim.SGD([_p()], momentum=-1), ValueError, "momentum -1"),
    (lambda: optim.SGD([_p()], weight_decay=-1e-3), ValueError, "weight_decay -0.001"),
    (lambda: optim.SGD([_p()], nesterov=True), ValueError, "nesterov"),
    (lambda: optim.SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    (lambda: optim.SGD([_p()], lr="fast"), TypeError, "lr must be a number"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), ValueError, "index 0: 1.0"),
    (lambda: optim.Adam([_p()], betas=(0.9, -0.1)), ValueError, "index 1: -0.1"),
    (lambda: optim.AdamW([_p()], eps=-1e-8), ValueError, "eps -1e-08"),
    (lambda: optim.RMSprop([_p()], alpha=-0.5), ValueError, "alpha -0.5"),
    (lambda: optim.Adagrad([_p()], lr_decay=-1), ValueError, "lr_decay -1"),
    (lambda: optim.Adagrad([_p()], initial_accumulator_value=-1), ValueError, "initial_accumulator_value"),
    (lambda: optim.Adadelta([_p()], rho=1.5), ValueError, "rho 1.5"),
    (lambda: optim.Adamax([_p()], betas=(0.9, 1.0)), ValueError, "index 1: 1.0"),
    (lambda: optim.NAdam([_p()], momentum_decay=-1), ValueError, "momentum_decay -1"),
    (lambda: optim.RAdam([_p()], weight_decay=-1), ValueError, "weight_decay -1"),
    (lambda: optim.Rprop([_p()], etas=(1.2, 0.5)), ValueError, "etas"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda: optim.SGD(_p(), lr=0.1), TypeError, "iterable of Tensors"),
    (lambda: optim.SGD([np.zeros(2)], lr=0.1), TypeError, "ndarray"),
    (lambda: optim.SGD([{"params": [_p()]}, {"params": {_p()}}]), TypeError, "ordered"),
    (lambda: optim.SGD([{"params": [_p()], "lr": -1.0}]), ValueError, "parameter group 0"),
    (lambda: optim.SGD([_p() * 2]), ValueError, "non-leaf"),
    (lambda: optim.SGD([tg.tensor([1, 2])]), TypeError, "floating-point Tensors, got int64"),
])
def test_argument_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_parameter_in_two_groups():
    p = _p()
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p, _p()]}])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([p, p])
    opt = optim.SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    assert len(opt.param_groups) == 1


def test_gradient_of_wrong_shape_changes_nothing():
    a, b = _p(), _p()
    opt = optim.Adam([a, b])
    a.grad, b.grad = tg.tensor(np.ones(2)), tg.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2,\) has a gradient of shape \(3,\)"):
        opt.step()
    assert not a._data.any() and not opt.state


# --- schedulers -----------------------------------------------------------------------------------
def sched_opt(lrs=(0.1, 0.02)):
    return optim.SGD([{"params": [_p()], "lr": lr} for lr in lrs])


def run_schedule(sched, opt, n=30):
    seen = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr())
    return np.array(seen)


BASE = np.array([0.1, 0.02])
EPOCHS = np.arange(31)[:, None]


@pytest.mark.parametrize("make,closed_form", [
    (lambda o: lr_scheduler.StepLR(o, 4, gamma=0.5), lambda e: BASE * 0.5 ** (e // 4)),
    (lambda o: lr_scheduler.MultiStepLR(o, [5, 12, 12], gamma=0.3),
     lambda e: BASE * 0.3 ** ((e >= 5) + 2 * (e >= 12))),
    (lambda o: lr_scheduler.ExponentialLR(o, 0.9), lambda e: BASE * 0.9 ** e),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 10, eta_min=1e-3),
     lambda e: 1e-3 + (BASE - 1e-3) * (1 + np.cos(np.pi * e / 10)) / 2),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)), lambda e: BASE / (e + 1)),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0, lambda e: 2.0 ** -e]),
     lambda e: np.stack([np.full(e.shape[0], 0.1), 0.02 * 2.0 ** -e[:, 0]], axis=1)),
])
def test_schedulers_follow_closed_forms(make, closed_form):
    opt = sched_opt()
    sched = make(opt)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    np.testing.assert_allclose(run_schedule(sched, opt), closed_form(EPOCHS), rtol=1e-10, atol=1e-15)
    assert sched.last_epoch == 30
    assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_reduce_lr_on_plateau():
    opt = sched_opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=[0.02, 0.0])
    lrs = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3]:
        opt.step()
        sched.step(tg.tensor(float(metric)))
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [0.1] * 4 + [0.05] * 4 + [0.025] * 3
    for _ in range(10):
        sched.step(3)
    assert sched.get_last_lr()[0] == 0.02 and sched.get_last_lr()[1] < 0.02 / 8
    assert "initial_lr" not in opt.param_groups[0]


@pytest.mark.parametrize("make,exc,match", [
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor should be < 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: lr_scheduler.StepLR(o, 0), ValueError, "step_size"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 0), ValueError, "T_max"),
    (lambda o: lr_scheduler.MultiStepLR(o, [1.5]), ValueError, "milestones"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, "expected 2 lr_lambdas"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, "callable"),
    (lambda o: lr_scheduler.ExponentialLR(o, "0.9"), TypeError, "gamma must be a number"),
    (lambda o: lr_scheduler.StepLR(object(), 3), TypeError, "not an Optimizer"),
    (lambda o: lr_scheduler.StepLR(o, 3, last_epoch=4), KeyError, "initial_lr"),
])
def test_scheduler_argument_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make(sched_opt())


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.MultiStepLR(o, [3, 6, 6], gamma=0.5),
    lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min=0.01),
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e),
    lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1, min_lr=[0.0, 0.001]),
])
def test_scheduler_state_dict_resumes(make, tmp_path):
    plateau = lambda s: isinstance(s, lr_scheduler.ReduceLROnPlateau)  # noqa: E731
    metric = lambda i: 10.0 - min(i, 4)  # noqa: E731

    def advance(sched, opt, epochs):
        for i in epochs:
            opt.step()
            sched.step(metric(i)) if plateau(sched) else sched.step()
        return sched.get_last_lr()

    opt = sched_opt()
    want = advance(make(opt), opt, range(12))
    opt = sched_opt()
    first = make(opt)
    advance(first, opt, range(6))
    sd = first.state_dict()
    assert "optimizer" not in sd and "lr_lambdas" not in sd
    tg.serialization.save({"s": sd, "o": opt.state_dict()}, tmp_path / "s.npz")
    sd = tg.serialization.load(tmp_path / "s.npz")
    opt2 = sched_opt()
    opt2.load_state_dict(sd["o"])
    second = make(opt2)
    second.load_state_dict(sd["s"])
    assert second.state_dict() == first.state_dict()
    assert advance(second, opt2, range(6, 12)) == pytest.approx(want, rel=1e-15)


def test_optimizer_repr():
    text = repr(optim.SGD([_p()], lr=0.1))
    assert text.startswith("SGD (") and "lr: 0.1" in text


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.Adagrad(ps, lr=0.1)])
def test_state_of_a_parameter_not_yet_stepped_reads_as_empty_as_in_pytorch(make):
    p = tg.nn.Parameter(np.ones(2))
    opt = make([p])
    assert opt.state[p] == {}  # a defaultdict, as torch's: reading it breaks nothing
    p.grad = tg.tensor([1.0, -1.0])
    opt.step()
    assert opt.state[p] and opt.state_dict()["state"]
