"""Optimizers and schedulers against torch.optim in float64: same parameters, same gradients, same values."""
import itertools
import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim
from tinygrad_rnn.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 20


def _grid(**axes):
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


SGD_CASES = [c for c in _grid(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True],
                              weight_decay=[0, 0.1], maximize=[False, True])
             if not c["nesterov"] or (c["momentum"] > 0 and c["dampening"] == 0)]
ADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.7)], eps=[1e-8, 1e-2], weight_decay=[0, 0.1],
                   amsgrad=[False, True], maximize=[False, True])
RMSPROP_CASES = _grid(alpha=[0.99, 0.3], centered=[False, True], momentum=[0, 0.9], weight_decay=[0, 0.1],
                      maximize=[False, True], eps=[1e-8, 1e-2])
ADAGRAD_CASES = _grid(lr_decay=[0, 0.1], weight_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
                      maximize=[False, True], eps=[1e-10, 1e-2])

ADADELTA_CASES = _grid(rho=[0.9, 0.5], eps=[1e-6, 1e-2], weight_decay=[0, 0.1], maximize=[False, True])
ADAMAX_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.7)], eps=[1e-8, 1e-2], weight_decay=[0, 0.1],
                     maximize=[False, True])
NADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.7)], weight_decay=[0, 0.1], momentum_decay=[4e-3, 0.1],
                    decoupled_weight_decay=[False, True], maximize=[False, True])
RADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.7)], weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
                    maximize=[False, True], eps=[1e-8, 1e-2])
RPROP_CASES = _grid(etas=[(0.5, 1.2), (0.3, 1.5)], step_sizes=[(1e-6, 50), (1e-3, 0.1)], maximize=[False, True])

CASES = ([("SGD", dict(lr=0.05, **c)) for c in SGD_CASES]
         + [(name, dict(lr=0.05, **c)) for name in ("Adam", "AdamW") for c in ADAM_CASES]
         + [("RMSprop", dict(lr=0.01, **c)) for c in RMSPROP_CASES]
         + [("Adagrad", dict(lr=0.1, **c)) for c in ADAGRAD_CASES]
         + [("Adadelta", dict(lr=0.5, **c)) for c in ADADELTA_CASES]
         + [("Adamax", dict(lr=0.05, **c)) for c in ADAMAX_CASES]
         + [("NAdam", dict(lr=0.05, **c)) for c in NADAM_CASES]
         + [("RAdam", dict(lr=0.05, **c)) for c in RADAM_CASES]
         + [("Rprop", dict(lr=0.05, **c)) for c in RPROP_CASES])


def _data(seed=0):
    """Two parameters (2-D and 1-D) and STEPS gradients of varying scale (so AMSGrad's max matters)."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal((4, 3)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(a.shape) * 10 ** rng.uniform(-2, 1) for a in init] for _ in range(STEPS)]
    return init, grads


def assert_params_equal(ours, theirs):
    for p, q in zip(ours, theirs):
        want = q.detach().numpy()
        # relative 1e-12, with a floor of 1e-12 of the tensor's scale for entries passing near zero
        np.testing.assert_allclose(p._data, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))


def run_both(name, groups_of, skip=lambda step, i: False, **kwargs):
    """Feed both optimizers the same gradients; compare the parameters after every step."""
    init, grads = _data()
    ours = [tg.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(groups_of(ours), **kwargs)
    ref = getattr(torch.optim, name)(groups_of(theirs), **kwargs)
    for step, gs in enumerate(grads):
        for i, (p, q, g) in enumerate(zip(ours, theirs, gs)):
            p.grad, q.grad = (None, None) if skip(step, i) else (tg.tensor(g), torch.tensor(g))
        opt.step()
        ref.step()
        assert_params_equal(ours, theirs)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_torch(name, kwargs):
    run_both(name, list, **kwargs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam", "Rprop"])
def test_missing_gradients_match_torch(name):
    extra = dict(SGD={"momentum": 0.9}, RMSprop={"momentum": 0.5, "centered": True}).get(name, {})
    run_both(name, list, skip=lambda step, i: (step + i) % 3 == 0, lr=0.05, **extra)


GROUP_OPTIONS = {
    "SGD": ({"lr": 0.1, "momentum": 0.9, "nesterov": True},
            {"dampening": 0.5, "momentum": 0.5, "weight_decay": 0.1}),
    "Adam": ({"lr": 0.1, "amsgrad": True}, {"betas": (0.5, 0.9), "weight_decay": 0.2, "maximize": True}),
    "AdamW": ({"lr": 0.1, "weight_decay": 0.3}, {"betas": (0.5, 0.9), "eps": 1e-3, "amsgrad": True}),
    "RMSprop": ({"lr": 0.003, "centered": True}, {"alpha": 0.5, "momentum": 0.9, "weight_decay": 0.1}),
    "Adagrad": ({"lr": 0.2, "lr_decay": 0.05}, {"eps": 1e-3, "weight_decay": 0.1}),
    "Adadelta": ({"lr": 0.3, "rho": 0.5}, {"eps": 1e-3, "weight_decay": 0.1}),
    "Adamax": ({"lr": 0.1}, {"betas": (0.5, 0.9), "weight_decay": 0.2, "maximize": True}),
    "NAdam": ({"lr": 0.1, "momentum_decay": 0.1}, {"decoupled_weight_decay": True, "weight_decay": 0.2}),
    "RAdam": ({"lr": 0.1, "betas": (0.5, 0.6)}, {"decoupled_weight_decay": True, "weight_decay": 0.2}),
    "Rprop": ({"lr": 0.1, "etas": (0.4, 1.1)}, {"step_sizes": (1e-3, 1.0)}),
}  # torch fills Adagrad's sums from the constructor's initial_accumulator_value, ignoring the group's


@pytest.mark.parametrize("name", sorted(GROUP_OPTIONS))
def test_param_groups_match_torch(name):
    first, second = GROUP_OPTIONS[name]
    run_both(name, lambda ps: [{"params": [ps[0]], **first}, {"params": [ps[1]], **second}], lr=0.01)


# --- schedulers ---------------------------------------------------------------------------------
def _opt_pair():
    groups = lambda p: [{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.03}]  # noqa: E731
    ours = optim.SGD(groups([tg.ones(2, dtype=np.float64, requires_grad=True),
                             tg.ones(3, dtype=np.float64, requires_grad=True)]))
    theirs = torch.optim.SGD(groups([torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]))
    return ours, theirs


SCHEDULERS = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.005)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.95 ** e, lambda e: min(1.0, (e + 1) / 5)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9)),
    ("MultiplicativeLR", dict(lr_lambda=[lambda e: 0.95, lambda e: 1.0 if e % 3 else 0.5])),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.5, total_iters=7)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.8, total_iters=12)),
    ("PolynomialLR", dict()),
    ("PolynomialLR", dict(total_iters=20, power=2.5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.001)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=31)),
    ("OneCycleLR", dict(max_lr=0.4, epochs=4, steps_per_epoch=8, pct_start=0.25, anneal_strategy="linear",
                        three_phase=True, div_factor=10.0)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=40, cycle_momentum=False)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.05], step_size_up=3, step_size_down=5,
                      mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, mode="exp_range", gamma=0.9,
                      cycle_momentum=False)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: 1 / x, scale_mode="cycle")),
    ("SequentialLR", lambda L, opt: dict(schedulers=[L.LinearLR(opt, 0.1, total_iters=4),
                                                     L.CosineAnnealingLR(opt, T_max=10)], milestones=[4])),
    ("SequentialLR", lambda L, opt: dict(schedulers=[L.ConstantLR(opt, 0.5, total_iters=3),
                                                     L.ExponentialLR(opt, 0.9), L.StepLR(opt, 2)],
                                         milestones=[5, 12])),
    ("ChainedScheduler", lambda L, opt: dict(schedulers=[L.ConstantLR(opt, 0.5, total_iters=4),
                                                         L.ExponentialLR(opt, 0.9)])),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch(name, kwargs):
    ours_opt, theirs_opt = _opt_pair()
    if callable(kwargs):  # schedulers of schedulers: each library's own inner ones
        ours_kw, theirs_kw = kwargs(lr_scheduler, ours_opt), kwargs(torch.optim.lr_scheduler, theirs_opt)
    else:
        ours_kw = theirs_kw = kwargs
    own = () if name == "ChainedScheduler" else None  # it takes its schedulers' optimizer
    ours = getattr(lr_scheduler, name)(*(own if own is not None else (ours_opt,)), **ours_kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(*(own if own is not None else (theirs_opt,)), **theirs_kw)
    assert ours.get_last_lr() == theirs.get_last_lr()
    initial = [[g["initial_lr"] for g in o.param_groups] for o in (ours_opt, theirs_opt)]
    assert initial[0] == initial[1]
    for _ in range(30 if name != "OneCycleLR" else ours.total_steps - 1):
        ours_opt.step()
        theirs_opt.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert getattr(ours, "last_epoch", None) == getattr(theirs, "last_epoch", None)
        assert [g["lr"] for g in ours_opt.param_groups] == [g["lr"] for g in theirs_opt.param_groups]
        assert [g["momentum"] for g in ours_opt.param_groups] == [g["momentum"] for g in theirs_opt.param_groups]


PLATEAU_METRICS = [10, 9, 8, 8.5, 8.2, 8.0, 8.0, 7.9995, 9, 9, 9, 9, 7, 7, 7, 7, 7, 7, 6, 6,
                   6, 6, 6, 6, 6, 6, 6, 6, 6, 6]


@pytest.mark.parametrize("kwargs", [
    dict(patience=2),
    dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.01, 0.001]),
    dict(mode="max", patience=0, threshold=0.05, threshold_mode="abs", min_lr=0.02),
    dict(mode="min", patience=3, threshold=0.01, threshold_mode="rel", eps=0.05),
])
def test_plateau_matches_torch(kwargs):
    ours_opt, theirs_opt = _opt_pair()
    ours = lr_scheduler.ReduceLROnPlateau(ours_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs)
    metrics = [-m for m in PLATEAU_METRICS] if kwargs.get("mode") == "max" else PLATEAU_METRICS
    for m in metrics:
        ours_opt.step()
        theirs_opt.step()
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter) == \
            (theirs.best, theirs.num_bad_epochs, theirs.cooldown_counter)
    assert min(ours.get_last_lr()) < 0.03  # the sequence did plateau


def test_cosine_closed_form_is_torch_recursion():
    ours_opt, _ = _opt_pair()
    sched = lr_scheduler.CosineAnnealingLR(ours_opt, T_max=6, eta_min=0.01)
    for epoch in range(1, 25):
        ours_opt.step()
        sched.step()
        want = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * epoch / 6)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_nadam_under_a_float64_default_matches_torch():
    """PyTorch keeps NAdam's momentum product in the default dtype: float32, or float64 when that is the default."""
    old_ours, old_theirs = tg.get_default_dtype(), torch.get_default_dtype()
    tg.set_default_dtype(np.float64)
    torch.set_default_dtype(torch.float64)
    try:
        run_both("NAdam", list, lr=0.05, momentum_decay=0.1)
    finally:
        tg.set_default_dtype(old_ours)
        torch.set_default_dtype(old_theirs)
