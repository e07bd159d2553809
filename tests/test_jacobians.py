"""torch.autograd.functional's counterparts (jacobians.py): jacobian, hessian, vjp, jvp, hvp and vhp
against PyTorch's values and structures (single inputs give Tensors, tuples give tuples), their
create_graph=True results differentiated once more, and strict=True."""
import numpy as np
import pytest

import tinygrad_rnn as tg

from optional_torch import needs_torch, torch


def _x(L, *shape, seed=0):
    return L.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=L.float64)


def _scalar(a):
    return (a.tanh() * a).sum() + (a ** 3).mean()


def _pair_scalar(a, b):
    return a.sum() * b.sin().sum() + (a ** 2).sum() * (b ** 3).sum()


CASES = {  # name: fn(lib, functional) -> result
    "jacobian_single": lambda L, F: F.jacobian(lambda a: a.exp() * a.sum(), _x(L, 3)),
    "jacobian_matrix_input": lambda L, F: F.jacobian(lambda a: a @ a.t(), _x(L, 2, 3)),
    "jacobian_tuple_inputs": lambda L, F: F.jacobian(lambda a, b: a * b, (_x(L, 3), _x(L, 3, seed=1))),
    "jacobian_tuple_outputs": lambda L, F: F.jacobian(lambda a: (a.sin(), a.sum()), _x(L, 2)),
    "jacobian_unused_input": lambda L, F: F.jacobian(lambda a, b: a * 2, (_x(L, 2), _x(L, 3))),
    "hessian_single": lambda L, F: F.hessian(_scalar, _x(L, 4)),
    "hessian_tuple": lambda L, F: F.hessian(_pair_scalar, (_x(L, 2), _x(L, 3, seed=1))),
    "vjp": lambda L, F: F.vjp(lambda a: a.tanh() * 3, _x(L, 4), _x(L, 4, seed=2)),
    "vjp_scalar_without_v": lambda L, F: F.vjp(_scalar, _x(L, 4)),
    "vjp_tuple": lambda L, F: F.vjp(lambda a, b: a * b, (_x(L, 2), _x(L, 2, seed=1)), _x(L, 2, seed=2)),
    "jvp": lambda L, F: F.jvp(lambda a: a.sin() * a.sum(), _x(L, 3), _x(L, 3, seed=1)),
    "jvp_tuple": lambda L, F: F.jvp(lambda a, b: (a * b, a - b), (_x(L, 2), _x(L, 2, seed=1)),
                                    (_x(L, 2, seed=2), _x(L, 2, seed=3))),
    "hvp": lambda L, F: F.hvp(_scalar, _x(L, 4), _x(L, 4, seed=1)),
    "vhp_tuple": lambda L, F: F.vhp(_pair_scalar, (_x(L, 2), _x(L, 3, seed=1)), (_x(L, 2, seed=2), _x(L, 3, seed=3))),
}


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value.detach().numpy()


def _close(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
    else:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    ours = CASES[name](tg, tg.autograd.functional)
    theirs = CASES[name](torch, torch.autograd.functional)
    assert type(ours).__name__ == type(theirs).__name__  # a Tensor or a tuple, as torch's
    _close(_plain(ours), _plain(theirs))


def test_hessian_is_the_jacobian_of_the_gradient_by_finite_differences():
    x = _x(tg, 3).numpy()
    h = tg.autograd.functional.hessian(_scalar, tg.tensor(x)).numpy()

    def grad(v):
        t = tg.tensor(v, requires_grad=True)
        _scalar(t).backward()
        return t.grad.numpy()
    eps = 1e-6
    fd = np.stack([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)


@needs_torch
def test_create_graph_results_can_be_differentiated_again():
    results = []
    for L in (tg, torch):
        x = _x(L, 3).requires_grad_()
        _, hv = L.autograd.functional.hvp(_scalar, x, L.ones(3, dtype=L.float64), create_graph=True)
        jac = L.autograd.functional.jacobian(lambda a: a.sin() * a, x, create_graph=True)
        (hv.sum() + jac.sum()).backward()
        results.append(x.grad.numpy())
    np.testing.assert_allclose(*results, rtol=1e-12)


def test_strict_refuses_an_output_independent_of_an_input():
    with pytest.raises(RuntimeError, match="does not depend on input 1"):
        tg.autograd.functional.jacobian(lambda a, b: a * 2, (tg.ones(2), tg.ones(2)), strict=True)
    with pytest.raises(ValueError, match="one-element"):
        tg.autograd.functional.vjp(lambda a: a * 2, tg.ones(2))
    with pytest.raises(ValueError, match="shapes"):
        tg.autograd.functional.jvp(lambda a: a * 2, tg.ones(2), tg.ones(3))
    with pytest.raises(TypeError, match="Tensor"):
        tg.autograd.functional.jacobian(lambda a: a, [1.0])
