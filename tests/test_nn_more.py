"""The rest of torch.nn's functions and modules (nn/activations.py's selu ... prelu, distances.py,
padding.py, rms_norm, scaled_dot_product_attention, the kl/poisson/gaussian and margin losses,
function_modules.py, containers.py): gradient-checked in float64 and, when PyTorch is installed,
equal to torch's values and input gradients for the same program; modules keep PyTorch's
constructor arguments, parameter names and state_dict keys."""
import collections

import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional as tgF
from tinygrad_rnn import gradcheck, nn

from optional_torch import lib_functional as _F, lib_nn as _nn, needs_torch, torch


def _normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def _apart(*shape):
    """Values at least 0.05 from 0, ±0.5, ±3 and ±1 (the kinks of the shrinks, hardsigmoid, thresholds)."""
    def make(rng):
        x = rng.uniform(-4, 4, shape)
        for kink in (0.0, 0.5, -0.5, 3.0, -3.0, 1.0, -1.0, 0.1):
            x = np.where(np.abs(x - kink) < 0.05, kink + 0.1, x)
        return x
    return make


def _positive(*shape):
    return lambda rng: rng.uniform(0.2, 2.0, shape)


def _probs(*shape):
    return lambda rng: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(rng.standard_normal(shape)))


def _const(value):
    """An input given as a constant (a target), not differentiated."""
    def make(rng):
        return value
    make.const = True
    return make


SIGNS = np.array([1.0, -1.0, -1.0, 1.0])

CASES = [  # (name, fn(lib, *xs), input makers)
    *[(name, (lambda n: lambda L, x: getattr(_F(L), n)(x))(name), [_apart(3, 4)])
      for name in ("selu", "celu", "mish", "hardsigmoid", "hardswish", "softshrink", "hardshrink")],
    ("celu_alpha", lambda L, x: _F(L).celu(x, alpha=0.7), [_apart(3, 4)]),
    ("softshrink_lambd", lambda L, x: _F(L).softshrink(x, 1.0), [_apart(3, 4)]),
    ("threshold", lambda L, x: _F(L).threshold(x, 0.1, -2.0), [_apart(3, 4)]),
    ("glu", lambda L, x: _F(L).glu(x), [_normal(3, 4)]),
    ("glu_dim0", lambda L, x: _F(L).glu(x, 0), [_normal(4, 3)]),
    ("prelu_channels", lambda L, x, w: _F(L).prelu(x, w), [_apart(2, 3, 4), _normal(3)]),
    ("prelu_one", lambda L, x, w: _F(L).prelu(x, w), [_apart(5), _normal(1)]),
    ("normalize", lambda L, x: _F(L).normalize(x), [_normal(3, 4)]),
    ("normalize_p1_dim0", lambda L, x: _F(L).normalize(x, p=1, dim=0), [_normal(3, 4)]),
    ("cosine_similarity", lambda L, a, b: _F(L).cosine_similarity(a, b), [_normal(3, 4), _normal(3, 4)]),
    ("cosine_similarity_broadcast", lambda L, a, b: _F(L).cosine_similarity(a, b, dim=-1),
     [_normal(2, 3, 4), _normal(4)]),
    ("cosine_similarity_broadcast_along_dim", lambda L, a, b: _F(L).cosine_similarity(a, b, dim=1),
     [_normal(2, 4), _normal(2, 1)]),
    ("pairwise_distance", lambda L, a, b: _F(L).pairwise_distance(a, b), [_normal(3, 4), _normal(3, 4)]),
    ("pairwise_distance_p1_keepdim", lambda L, a, b: _F(L).pairwise_distance(a, b, p=1, keepdim=True),
     [_normal(3, 4), _normal(3, 4)]),
    ("rms_norm", lambda L, x, w: _F(L).rms_norm(x, (4,), w), [_normal(3, 4), _normal(4)]),
    ("rms_norm_two_dims_eps", lambda L, x: _F(L).rms_norm(x, (3, 4), eps=1e-3), [_normal(2, 3, 4)]),
    ("pad_constant", lambda L, x: _F(L).pad(x, (1, 2)), [_normal(2, 3)]),
    ("pad_constant_value_two_dims", lambda L, x: _F(L).pad(x, (0, 1, 2, 0), value=-1.5), [_normal(2, 3, 2)]),
    ("pad_crop", lambda L, x: _F(L).pad(x, (-1, 2, 1, -2)), [_normal(4, 5)]),
    ("pad_reflect", lambda L, x: _F(L).pad(x, (2, 1), mode="reflect"), [_normal(2, 3, 4)]),
    ("pad_reflect_2d", lambda L, x: _F(L).pad(x, (1, 1, 2, 0), mode="reflect"), [_normal(1, 2, 3, 4)]),
    ("pad_replicate", lambda L, x: _F(L).pad(x, (3, 1), mode="replicate"), [_normal(2, 3, 4)]),
    ("pad_circular", lambda L, x: _F(L).pad(x, (2, 4, 1, 1), mode="circular"), [_normal(1, 2, 3, 4)]),
    ("pad_reflect_cropping", lambda L, x: _F(L).pad(x, (-1, 2), mode="reflect"), [_normal(2, 4)]),
    ("pad_replicate_beyond_the_size", lambda L, x: _F(L).pad(x, (3, 0, 0, 4), mode="replicate"),
     [_normal(1, 2, 2)]),
    ("pad_circular_cropping", lambda L, x: _F(L).pad(x, (-1, -1, 2, -1), mode="circular"), [_normal(1, 3, 4)]),
    ("sdpa", lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v),
     [_normal(2, 3, 4), _normal(2, 5, 4), _normal(2, 5, 2)]),
    ("sdpa_causal_heads", lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v, is_causal=True),
     [_normal(2, 2, 4, 3), _normal(2, 2, 4, 3), _normal(2, 2, 4, 3)]),
    ("sdpa_bool_mask_scale", lambda L, q, k, v: _F(L).scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor([[True, False, True], [True, True, False]]), scale=0.3),
     [_normal(2, 2, 4), _normal(2, 3, 4), _normal(2, 3, 4)]),
    ("sdpa_float_mask", lambda L, q, k, v: _F(L).scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor([[0.5, -1.0, 0.0]], dtype=L.float64)),
     [_normal(2, 2, 4), _normal(2, 3, 4), _normal(2, 3, 4)]),
    ("sdpa_gqa", lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v, enable_gqa=True),
     [_normal(1, 4, 2, 3), _normal(1, 2, 3, 3), _normal(1, 2, 3, 3)]),
    ("sdpa_float_mask_learned", lambda L, q, k, v, m: _F(L).scaled_dot_product_attention(q, k, v, attn_mask=m),
     [_normal(2, 2, 4), _normal(2, 3, 4), _normal(2, 3, 4), _normal(2, 3)]),
    ("kl_div", lambda L, x, t: _F(L).kl_div(x, t, reduction="batchmean"), [_normal(3, 4), _probs(3, 4)]),
    ("kl_div_sum_log_target", lambda L, x, t: _F(L).kl_div(x, t, reduction="sum", log_target=True),
     [_normal(3, 4), _normal(3, 4)]),
    ("kl_div_none", lambda L, x, t: _F(L).kl_div(x, t, reduction="none"), [_normal(3, 4), _probs(3, 4)]),
    ("poisson_nll", lambda L, x, t: _F(L).poisson_nll_loss(x, t), [_normal(3, 4), _positive(3, 4)]),
    ("poisson_nll_rate_full",
     lambda L, x, t: _F(L).poisson_nll_loss(x, t * 2, log_input=False, full=True, reduction="sum"),
     [_positive(3, 4), _positive(3, 4)]),
    ("gaussian_nll", lambda L, x, t, v: _F(L).gaussian_nll_loss(x, t, v),
     [_normal(3, 4), _normal(3, 4), _positive(3, 4)]),
    ("gaussian_nll_row_var_full", lambda L, x, t, v: _F(L).gaussian_nll_loss(x, t, v, full=True, reduction="sum"),
     [_normal(3, 4), _normal(3, 4), _positive(3)]),
    ("gaussian_nll_broadcast_var", lambda L, x, t, v: _F(L).gaussian_nll_loss(x, t, v),
     [_normal(3, 4), _normal(3, 4), _positive(1, 4)]),
    ("gaussian_nll_number_var", lambda L, x, t: _F(L).gaussian_nll_loss(x, t, 2.0, reduction="sum"),
     [_normal(3, 4), _normal(3, 4)]),
    ("gaussian_nll_clamped_var", lambda L, x, t, v: _F(L).gaussian_nll_loss(x, t, v * 1e-4, eps=1e-3),
     [_normal(3, 2), _normal(3, 2), _positive(3, 1)]),
    ("margin_ranking", lambda L, a, b: _F(L).margin_ranking_loss(a, b, L.tensor(SIGNS, dtype=L.float64), margin=0.2),
     [_normal(4), _normal(4)]),
    ("hinge_embedding", lambda L, x: _F(L).hinge_embedding_loss(x, L.tensor(SIGNS, dtype=L.float64), margin=1.5),
     [_apart(4)]),
    ("cosine_embedding",
     lambda L, a, b: _F(L).cosine_embedding_loss(a, b, L.tensor(SIGNS, dtype=L.float64), margin=-0.5),
     [_normal(4, 3), _normal(4, 3)]),
    ("soft_margin", lambda L, x: _F(L).soft_margin_loss(x, L.tensor(SIGNS, dtype=L.float64)), [_normal(4)]),
    ("multilabel_soft_margin", lambda L, x, w: _F(L).multilabel_soft_margin_loss(
        x, L.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=L.float64), weight=w, reduction="sum"),
     [_normal(2, 3), _positive(3)]),
    ("triplet_margin", lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n, margin=2.0),
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
    ("triplet_margin_swap_p1", lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n, p=1, swap=True),
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
]


def _inputs(makers, lib, seed=0):
    rng = np.random.default_rng(seed)
    return [lib.tensor(make(rng), dtype=lib.float64, requires_grad=not getattr(make, "const", False))
            for make in makers]


NOT_THE_DERIVATIVE = {  # cases whose gradient is PyTorch's convention rather than the finite difference
    "gaussian_nll_clamped_var": "var clamped at eps passes the unclamped var's gradient, as PyTorch's",
}
# PyTorch 2.13's float64 backward of these multiplies by a float32 constant (1/6, 1/alpha): ~3e-8 off
TORCH_FLOAT32_CONSTANT = {"hardsigmoid", "celu_alpha", "Hardsigmoid", "CELU"}
GRADCHECKED = [c for c in CASES if c[0] not in NOT_THE_DERIVATIVE]


@pytest.mark.parametrize("name, fn, makers", GRADCHECKED, ids=[c[0] for c in GRADCHECKED])
def test_gradcheck(name, fn, makers):
    assert gradcheck(lambda *xs: fn(tg, *xs), _inputs(makers, tg))


def _close(a, b, name):
    rtol = 1e-7 if name in TORCH_FLOAT32_CONSTANT else 1e-10
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name, fn, makers", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(name, fn, makers):
    results = []
    for lib in (tg, torch):
        xs = _inputs(makers, lib)
        y = fn(lib, *xs)
        g = np.random.default_rng(1).standard_normal(tuple(y.shape))
        y.backward(lib.tensor(g, dtype=lib.float64))
        results.append((y.detach().numpy(), [x.grad.numpy() for x in xs]))
    (ours, our_grads), (theirs, their_grads) = results
    assert ours.shape == theirs.shape
    _close(ours, theirs, name)
    for a, b in zip(our_grads, their_grads):
        _close(a, b, name)


MODULES = [  # (name, make(lib) -> module, input makers): a module against torch's, state_dict copied over
    ("SELU", lambda L: _nn(L).SELU(), [_apart(3, 4)]),
    ("CELU", lambda L: _nn(L).CELU(0.5), [_apart(3, 4)]),
    ("Mish", lambda L: _nn(L).Mish(), [_apart(3, 4)]),
    ("Hardsigmoid", lambda L: _nn(L).Hardsigmoid(), [_apart(3, 4)]),
    ("Hardswish", lambda L: _nn(L).Hardswish(), [_apart(3, 4)]),
    ("Softshrink", lambda L: _nn(L).Softshrink(0.5), [_apart(3, 4)]),
    ("Hardshrink", lambda L: _nn(L).Hardshrink(lambd=1.0), [_apart(3, 4)]),
    ("Threshold", lambda L: _nn(L).Threshold(0.1, 20.0), [_apart(3, 4)]),
    ("GLU", lambda L: _nn(L).GLU(dim=0), [_normal(4, 3)]),
    ("PReLU", lambda L: _nn(L).PReLU(3, init=0.1, dtype=L.float64), [_apart(2, 3, 4)]),
    ("RMSNorm", lambda L: _nn(L).RMSNorm(4, dtype=L.float64), [_normal(3, 4)]),
    ("RMSNorm_no_affine", lambda L: _nn(L).RMSNorm([2, 4], eps=1e-4, elementwise_affine=False), [_normal(3, 2, 4)]),
    ("Unflatten", lambda L: _nn(L).Unflatten(1, (2, 3)), [_normal(4, 6)]),
    ("CosineSimilarity", lambda L: _nn(L).CosineSimilarity(dim=0), [_normal(3, 4), _normal(3, 4)]),
    ("PairwiseDistance", lambda L: _nn(L).PairwiseDistance(p=3.0), [_normal(3, 4), _normal(3, 4)]),
    ("ZeroPad1d", lambda L: _nn(L).ZeroPad1d((1, 2)), [_normal(2, 3)]),
    ("ZeroPad2d", lambda L: _nn(L).ZeroPad2d(1), [_normal(1, 2, 3)]),
    ("ConstantPad1d", lambda L: _nn(L).ConstantPad1d(2, 3.5), [_normal(2, 3)]),
    ("ConstantPad3d", lambda L: _nn(L).ConstantPad3d((1, 0, 0, 1, 1, 1), -1.0), [_normal(1, 2, 2, 2)]),
    ("ReflectionPad1d", lambda L: _nn(L).ReflectionPad1d(2), [_normal(2, 3, 4)]),
    ("ReflectionPad2d", lambda L: _nn(L).ReflectionPad2d((1, 0, 2, 1)), [_normal(1, 2, 3, 4)]),
    ("ReplicationPad1d", lambda L: _nn(L).ReplicationPad1d((0, 3)), [_normal(2, 3, 4)]),
    ("ReplicationPad2d", lambda L: _nn(L).ReplicationPad2d(2), [_normal(1, 2, 3, 4)]),
    ("CircularPad1d", lambda L: _nn(L).CircularPad1d(3), [_normal(2, 3, 4)]),
    ("KLDivLoss", lambda L: _nn(L).KLDivLoss(reduction="sum"), [_normal(3, 4), _probs(3, 4)]),
    ("PoissonNLLLoss", lambda L: _nn(L).PoissonNLLLoss(log_input=False, full=True),
     [_positive(3, 4), _positive(3, 4)]),
    ("GaussianNLLLoss", lambda L: _nn(L).GaussianNLLLoss(full=True), [_normal(3, 4), _normal(3, 4), _positive(3, 4)]),
    ("SoftMarginLoss", lambda L: _nn(L).SoftMarginLoss(reduction="sum"), [_normal(4), _const(SIGNS)]),
    ("MultiLabelSoftMarginLoss", lambda L: _nn(L).MultiLabelSoftMarginLoss(),
     [_normal(2, 3), _const(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))]),
    ("TripletMarginLoss", lambda L: _nn(L).TripletMarginLoss(margin=0.5, p=1.0, swap=True),
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
]


@needs_torch
@pytest.mark.parametrize("name, make, makers", MODULES, ids=[c[0] for c in MODULES])
def test_modules_match_torch(name, make, makers):
    torch.manual_seed(0)
    theirs = make(torch).double()
    ours = make(tg).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    results = []
    for lib, module in ((tg, ours), (torch, theirs)):
        xs = _inputs(makers, lib)
        y = module(*xs)
        y.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape)), dtype=lib.float64))
        results.append([y.detach().numpy()] + [x.grad.numpy() for x in xs if x.requires_grad] +
                       [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        _close(a, b, name)


def test_in_place_functional_forms_write_into_their_input():
    for name in ("relu_", "elu_", "leaky_relu_", "selu_", "celu_", "hardtanh_"):
        x = tg.tensor([-1.0, 0.5, 2.0])
        assert getattr(tgF, name)(x) is x
        np.testing.assert_allclose(x.numpy(), getattr(tgF, name[:-1])(tg.tensor([-1.0, 0.5, 2.0])).numpy())
    x = tg.tensor([-1.0, 0.5])
    tgF.threshold_(x, 0.0, 9.0)
    np.testing.assert_array_equal(x.numpy(), [9.0, 0.5])


def test_sdpa_with_nothing_to_attend_to_gives_zeros_as_pytorch():
    masks = (lambda L: L.tensor([[True, False], [False, False]]),
             lambda L: L.tensor([[0.0, 0.0], [float("-inf"), float("-inf")]], dtype=L.float64))
    libs = (tg, torch) if torch is not None else (tg,)
    for mask in masks:
        results = []
        for L in libs:
            q = L.tensor(np.arange(12.0).reshape(1, 2, 6) / 10, dtype=L.float64, requires_grad=True)
            out = _F(L).scaled_dot_product_attention(q, q, q, attn_mask=mask(L))
            out.sum().backward()
            results.append((out.detach().numpy(), q.grad.numpy()))
        assert np.isfinite(results[0][0]).all() and (results[0][0][0, 1] == 0).all()
        assert np.isfinite(results[0][1]).all()
        if len(results) == 2:
            for ours, theirs in zip(*results):
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_sdpa_dropout_zeroes_weights_and_scales_the_rest():
    tg.manual_seed(0)
    q = tg.ones(1, 1, 2)
    v = tg.tensor([[[1.0], [1.0], [1.0], [1.0]]])
    out = tgF.scaled_dot_product_attention(q, tg.ones(1, 4, 2), v, dropout_p=0.5)
    assert out.item() in {k * 0.25 / 0.5 for k in range(5)}


def test_module_dict_registers_and_behaves_as_a_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3)})
    d["dec"] = nn.Linear(3, 1)
    d.update([("out", nn.Tanh())])
    assert list(d) == ["enc", "dec", "out"] and len(d) == 3 and "dec" in d
    assert list(d.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert len(list(d.parameters())) == 4
    assert isinstance(d.pop("enc"), nn.Linear) and list(d.keys()) == ["dec", "out"]
    del d["out"]
    assert [type(m).__name__ for m in d.values()] == ["Linear"]
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []
    with pytest.raises(TypeError, match="Module"):
        d["x"] = 3
    with pytest.raises(TypeError, match="pair"):
        d.update([nn.Tanh()])


def test_parameter_list_and_dict_register_their_tensors_as_parameters():
    pl = nn.ParameterList([tg.ones(2), nn.Parameter(tg.zeros(3))])
    pl.append(tg.ones(1))
    pl += [tg.zeros(4)]
    assert list(pl.state_dict()) == ["0", "1", "2", "3"] and len(pl) == 4
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    assert [tuple(p.shape) for p in pl[1:3]] == [(3,), (1,)] and pl[-1].shape == (4,)
    pl[0] = tg.full((2,), 5.0)
    np.testing.assert_array_equal(pl[0].detach().numpy(), [5.0, 5.0])
    with pytest.raises(IndexError, match="out of range"):
        pl[4]

    pd = nn.ParameterDict({"a": tg.ones(2)})
    pd["b"] = nn.Parameter(tg.zeros(1))
    assert list(pd.state_dict()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([tg.ones(2) for _ in range(2)])
            self.heads = nn.ModuleDict({"x": nn.Linear(2, 2)})

        def forward(self, x):
            return self.heads["x"](x * self.scales[0] * self.scales[1])

    model = Model()
    model(tg.ones(3, 2)).sum().backward()
    assert list(model.state_dict()) == ["scales.0", "scales.1", "heads.x.weight", "heads.x.bias"]
    assert all(p.grad is not None for p in model.parameters())


@needs_torch
def test_containers_state_dict_keys_match_torch():
    def build(L):
        class Model(_nn(L).Module):
            def __init__(self):
                super().__init__()
                self.p = _nn(L).ParameterList([_nn(L).Parameter(L.ones(2)), _nn(L).Parameter(L.ones(3))])
                self.d = _nn(L).ParameterDict({"w": _nn(L).Parameter(L.ones(1))})
                self.m = _nn(L).ModuleDict({"lin": _nn(L).Linear(2, 2), "norm": _nn(L).RMSNorm(2)})
        return Model()
    assert list(build(tg).state_dict()) == list(build(torch).state_dict())


ERRORS = [
    ("pad_odd", lambda: tgF.pad(tg.ones(2, 3), (1,)), ValueError, "even number"),
    ("pad_mode", lambda: tgF.pad(tg.ones(2, 3), (1, 1), mode="mirror"), ValueError, "mode"),
    ("pad_reflect_too_far", lambda: tgF.pad(tg.ones(2, 3), (3, 0), mode="reflect"), ValueError, "at most 2"),
    ("pad_reflect_every_dim", lambda: tgF.pad(tg.ones(3), (1, 1), mode="reflect"), ValueError, "at most the last"),
    ("pad_value_with_reflect", lambda: tgF.pad(tg.ones(2, 3), (1, 1), mode="reflect", value=2.0), ValueError,
     "only used"),
    ("glu_odd", lambda: tgF.glu(tg.ones(2, 3)), ValueError, "even size"),
    ("prelu_weights", lambda: tgF.prelu(tg.ones(2, 3), tg.ones(2)), ValueError, "1 or 3"),
    ("celu_alpha", lambda: tgF.celu(tg.ones(2), alpha=0.0), ValueError, "alpha"),
    ("softshrink_lambd", lambda: tgF.softshrink(tg.ones(2), -1.0), ValueError, "non-negative"),
    ("rms_norm_shape", lambda: tgF.rms_norm(tg.ones(2, 3), (4,)), ValueError, "trailing shape"),
    ("gaussian_var_shape", lambda: tgF.gaussian_nll_loss(tg.ones(2, 3), tg.ones(2, 3), tg.ones(3, 2)), ValueError,
     "var of shape"),
    ("gaussian_var_negative", lambda: tgF.gaussian_nll_loss(tg.ones(2), tg.ones(2), -tg.ones(2)), ValueError,
     "negative"),
    ("sdpa_mask_and_causal", lambda: tgF.scaled_dot_product_attention(
        tg.ones(1, 2, 2), tg.ones(1, 2, 2), tg.ones(1, 2, 2), attn_mask=tg.ones(2, 2).bool(), is_causal=True),
     ValueError, "not both"),
    ("module_arguments", lambda: nn.Softshrink(0.5, 1.0), TypeError, "Softshrink"),
    ("pad_module_tuple", lambda: nn.ZeroPad2d((1, 2)), ValueError, "4-tuple"),
    ("kl_div_reduction", lambda: tgF.kl_div(tg.ones(2), tg.ones(2), reduction="avg"), ValueError, "reduction"),
    ("triplet_margin", lambda: tgF.triplet_margin_loss(tg.ones(2, 2), tg.ones(2, 2), tg.ones(2, 2), margin=0),
     ValueError, "margin must be greater than 0"),
    ("prelu_weight_type", lambda: tgF.prelu(tg.ones(2, 3), 0.25), TypeError, "weight must be a Tensor"),
    ("pad_circular_too_far", lambda: tgF.pad(tg.ones(1, 2), (3, 0), mode="circular"), ValueError, "at most 2"),
]


@pytest.mark.parametrize("name, call, error, words", ERRORS, ids=[c[0] for c in ERRORS])
def test_bad_arguments_raise_clear_errors(name, call, error, words):
    with pytest.raises(error, match=words):
        call()


@needs_torch
def test_zero_vectors_give_torchs_values_and_gradients():
    for fn in (lambda L, a, b: _F(L).cosine_similarity(a, b), lambda L, a, b: _F(L).normalize(a) + b,
               lambda L, a, b: _F(L).cosine_embedding_loss(a, b, L.tensor([1.0, -1.0], dtype=L.float64)),
               lambda L, a, b: _F(L).pairwise_distance(a, a + b * 0.0)):
        results = []
        for lib in (tg, torch):
            a = lib.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=lib.float64, requires_grad=True)
            b = lib.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=lib.float64, requires_grad=True)
            y = fn(lib, a, b)
            y.sum().backward()
            results.append((y.detach().numpy(), a.grad.numpy(), b.grad.numpy()))
        for ours, theirs in zip(*results):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


EMBEDDINGS = [  # (name, make(lib) -> Embedding): values, weight (after max_norm's renorm) and gradient
    ("positional_max_norm", lambda L: _nn(L).Embedding(6, 3, None, 1.0)),
    ("max_norm_p1_padding", lambda L: _nn(L).Embedding(6, 3, padding_idx=2, max_norm=0.5, norm_type=1.0)),
    ("scale_grad_by_freq", lambda L: _nn(L).Embedding(6, 3, scale_grad_by_freq=True)),
    ("scale_grad_by_freq_padding", lambda L: _nn(L).Embedding(6, 3, 0, None, 2.0, True)),
    ("sparse", lambda L: _nn(L).Embedding(6, 3, sparse=True)),
]


@needs_torch
@pytest.mark.parametrize("name, make", EMBEDDINGS, ids=[c[0] for c in EMBEDDINGS])
def test_embedding_arguments_match_torch(name, make):
    weight = np.random.default_rng(0).standard_normal((6, 3)) * 2
    idx = np.array([[1, 2, 1], [4, 1, 0]])
    results = []
    for lib in (tg, torch):
        layer = make(lib).double()
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(weight))
        y = layer(lib.tensor(idx))
        (y * lib.arange(18.0, dtype=lib.float64).reshape(2, 3, 3)).sum().backward()
        grad = layer.weight.grad.to_dense() if lib is torch and layer.weight.grad.is_sparse else layer.weight.grad
        results.append((y.detach().numpy(), layer.weight.detach().numpy(), grad.numpy()))
        assert repr(layer) == repr(make(torch)) if lib is tg else True
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@needs_torch
def test_embedding_from_pretrained_and_weight_match_torch():
    w = np.arange(12.0).reshape(4, 3)
    for lib in (tg, torch):
        frozen = _nn(lib).Embedding.from_pretrained(lib.tensor(w), max_norm=5.0)
        given = _nn(lib).Embedding(4, 3, _weight=lib.tensor(w), _freeze=True)
        assert not frozen.weight.requires_grad and not given.weight.requires_grad
    ours = nn.Embedding.from_pretrained(tg.tensor(w), freeze=False, max_norm=5.0)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, max_norm=5.0)
    np.testing.assert_allclose(ours(tg.tensor([3, 0])).detach().numpy(), theirs(torch.tensor([3, 0])).detach().numpy())


@needs_torch
@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_mse_and_l1_match_torch(loss, reduction):
    rng = np.random.default_rng(3)
    x, t, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.uniform(0.1, 2, (3, 4))
    results = []
    for lib in (tg, torch):
        xs = lib.tensor(x, requires_grad=True)
        y = getattr(_F(lib), loss)(xs, lib.tensor(t), reduction=reduction, weight=lib.tensor(w))
        y.sum().backward()
        results.append((y.detach().numpy(), xs.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    with pytest.raises(ValueError, match="weight of shape"):
        getattr(tgF, loss)(tg.ones(2), tg.ones(2), weight=tg.ones(3))


def test_init_takes_pytorchs_argument_names_and_a_generator():
    w = tg.zeros(3, 4)
    nn.init.zeros_(tensor=w)
    draws = [nn.init.xavier_uniform_(tg.zeros(3, 4), generator=np.random.default_rng(5)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    with pytest.raises(TypeError, match="generator"):
        nn.init.normal_(w, generator=5)


def test_trunc_normal_draws_inside_its_bounds_with_the_truncated_moments():
    from scipy import stats
    w = nn.init.trunc_normal_(tg.zeros(200, 100, dtype=tg.float64), mean=0.5, std=2.0, a=-1.0, b=3.0,
                              generator=np.random.default_rng(0)).numpy()
    assert w.min() >= -1.0 and w.max() <= 3.0
    law = stats.truncnorm((-1.0 - 0.5) / 2.0, (3.0 - 0.5) / 2.0, loc=0.5, scale=2.0)
    assert abs(w.mean() - law.mean()) < 0.02 and abs(w.std() - law.std()) < 0.02


@needs_torch
def test_rnn_all_weights_is_a_property_and_modules_take_input_by_name():
    ours, theirs = nn.LSTM(3, 4, num_layers=2), torch.nn.LSTM(3, 4, num_layers=2)
    assert [[tuple(p.shape) for p in ps] for ps in ours.all_weights] == \
        [[tuple(p.shape) for p in ps] for ps in theirs.all_weights]
    for module in (nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 2), nn.Tanh()), nn.LayerNorm(3), nn.Dropout(),
                   nn.GELU(), nn.Softmax(-1), nn.RMSNorm(3), nn.Identity()):
        assert module(input=tg.ones(2, 3)).shape[0] == 2
    assert nn.GRUCell(3, 4)(input=tg.ones(2, 3)).shape == (2, 4)


@pytest.mark.parametrize("call", [
    lambda: nn.LSTM(3, 4)(tg.ones(5, 2, 2)),
    lambda: nn.GRU(3, 4)(tg.ones(5, 2, 3), tg.ones(1, 3, 4)),
    lambda: nn.RNN(3, 4)(tg.ones(5, 2, 2, 1)),
    lambda: nn.LSTMCell(3, 4)(tg.ones(2, 2)),
    lambda: nn.GRUCell(3, 4)(tg.ones(2, 3), tg.ones(3, 4)),
])
def test_recurrent_shape_errors_are_caught_as_pytorchs_runtime_error_too(call):
    with pytest.raises(RuntimeError, match="expected"):
        call()
    with pytest.raises(ValueError, match="expected"):
        call()


@needs_torch
def test_rnn_mode_names_match_torch_and_clipping_takes_foreach():
    for make in (lambda L: _nn(L).RNN(2, 3), lambda L: _nn(L).RNN(2, 3, nonlinearity="relu"),
                 lambda L: _nn(L).LSTM(2, 3), lambda L: _nn(L).GRU(2, 3)):
        assert make(tg).mode == make(torch).mode
    p = nn.Parameter(tg.ones(3))
    p.grad = tg.full((3,), 4.0)
    assert float(nn.utils.clip_grad_norm_([p], 1.0, foreach=True)) == pytest.approx(48 ** 0.5)
    nn.utils.clip_grad_value_([p], 0.1, foreach=False)
    assert p.grad.numpy().max() <= 0.1


@needs_torch
def test_parameter_dict_of_a_plain_dict_is_sorted_as_torchs():
    for L in (tg, torch):
        d = _nn(L).ParameterDict({"b": _nn(L).Parameter(L.ones(1)), "a": _nn(L).Parameter(L.ones(2))})
        d.update(collections.OrderedDict([("d", _nn(L).Parameter(L.ones(1))), ("c", _nn(L).Parameter(L.ones(1)))]))
        assert list(d.keys()) == ["a", "b", "d", "c"]


def test_sparse_init_puts_the_zeros_in_every_column():
    w = nn.init.sparse_(tg.zeros(10, 5, dtype=tg.float64), 0.25, std=0.5, generator=np.random.default_rng(0))
    assert ((w.numpy() == 0).sum(0) == 3).all()
    assert 0.2 < w.numpy()[w.numpy() != 0].std() < 0.9
    with pytest.raises(ValueError, match="2-D"):
        nn.init.sparse_(tg.zeros(3), 0.1)
