"""Loss and activation modules (nn/losses.py, nn/layers.py, nn/activations.py, ops/special.py):
gradient checks in float64, PyTorch parity of values and input gradients, argument errors."""
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.ops.special import erf, log1p

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4)) * 2
LOGITS_3D = RNG.standard_normal((3, 4, 2))
CLASSES = np.array([0, 3, 1, 3, 2])
CLASSES_3D = np.array([[1, 0], [3, 3], [2, -100]])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
PROBS = np.abs(RNG.standard_normal((5, 4)))
PROBS /= PROBS.sum(axis=1, keepdims=True)
PAIR = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
BINARY = RNG.standard_normal((3, 4)) * 3, (RNG.random((3, 4)) > 0.5).astype(float)
BCE_WEIGHT, POS_WEIGHT = RNG.random((3, 4)) + 0.5, np.array([0.5, 1.0, 2.0, 4.0])
PROBABILITIES = RNG.uniform(0.02, 0.98, (3, 4)), RNG.random((3, 4))
WIDE = PAIR[0] * 2, PAIR[1]  # differences on both sides of Huber's and smooth L1's knees

# name -> (module arguments, input, target, tensor-valued arguments); PyTorch's module of the same name
LOSSES = {
    "NLLLoss": [({}, LOGITS, CLASSES), ({"reduction": "sum"}, LOGITS, CLASSES),
                ({"weight": WEIGHT}, LOGITS, CLASSES), ({"weight": WEIGHT, "reduction": "none"}, LOGITS, CLASSES),
                ({"weight": WEIGHT, "ignore_index": 3}, LOGITS, CLASSES),
                ({"weight": WEIGHT}, LOGITS_3D, CLASSES_3D), ({}, LOGITS[0], CLASSES[0])],
    "CrossEntropyLoss": [({}, LOGITS, CLASSES), ({"label_smoothing": 0.2}, LOGITS, CLASSES),
                         ({"weight": WEIGHT}, LOGITS, CLASSES),
                         ({"weight": WEIGHT, "label_smoothing": 0.1}, LOGITS, CLASSES),
                         ({"weight": WEIGHT, "label_smoothing": 0.1, "ignore_index": 3}, LOGITS, CLASSES),
                         ({"weight": WEIGHT, "label_smoothing": 0.3, "reduction": "sum"}, LOGITS_3D, CLASSES_3D),
                         ({"weight": WEIGHT, "label_smoothing": 0.3, "reduction": "none"}, LOGITS, CLASSES),
                         ({}, LOGITS, PROBS), ({"weight": WEIGHT, "label_smoothing": 0.2}, LOGITS, PROBS),
                         ({"reduction": "none"}, LOGITS, PROBS)],
    "MSELoss": [({}, *PAIR), ({"reduction": "sum"}, *PAIR), ({"reduction": "none"}, *PAIR)],
    "L1Loss": [({}, *PAIR), ({"reduction": "sum"}, *PAIR)],
    "HuberLoss": [({}, *WIDE), ({"delta": 0.5, "reduction": "sum"}, *WIDE),
                  ({"delta": 2.0, "reduction": "none"}, *WIDE)],
    "SmoothL1Loss": [({}, *WIDE), ({"beta": 0.5, "reduction": "sum"}, *WIDE), ({"beta": 0.0}, *WIDE)],
    "BCELoss": [({}, *PROBABILITIES), ({"weight": BCE_WEIGHT, "reduction": "sum"}, *PROBABILITIES),
                ({"reduction": "none"}, *PROBABILITIES)],
    "BCEWithLogitsLoss": [({}, *BINARY), ({"weight": BCE_WEIGHT}, *BINARY), ({"pos_weight": POS_WEIGHT}, *BINARY),
                          ({"pos_weight": POS_WEIGHT, "weight": BCE_WEIGHT, "reduction": "sum"}, *BINARY),
                          ({"pos_weight": POS_WEIGHT, "reduction": "none"}, *BINARY)],
}
LOSS_CASES = [(name, *case) for name, cases in LOSSES.items() for case in cases]


def _module(lib, name, args):
    tensors = {k: lib.tensor(v) for k, v in args.items() if isinstance(v, np.ndarray)}
    return getattr(lib.nn, name)(**{**args, **tensors})


def _target(lib, target):
    target = np.asarray(target)
    return lib.tensor(target) if target.dtype.kind == "f" else lib.tensor(target.astype(np.int64))


@pytest.mark.parametrize("name, args, x, target", LOSS_CASES)
def test_loss_gradcheck(name, args, x, target):
    loss = _module(tg, name, args)
    tg.gradcheck(lambda z: loss(z, _target(tg, target)), [tg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name, args, x, target", LOSS_CASES)
def test_loss_matches_torch(name, args, x, target):
    torch = pytest.importorskip("torch")
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = _module(tg, name, args)(ours, _target(tg, target))
    expected = _module(torch, name, args)(theirs, _target(torch, target))
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


FUNCTIONAL = {"NLLLoss": "nll_loss", "CrossEntropyLoss": "cross_entropy", "MSELoss": "mse_loss", "L1Loss": "l1_loss",
              "HuberLoss": "huber_loss", "SmoothL1Loss": "smooth_l1_loss", "BCELoss": "binary_cross_entropy",
              "BCEWithLogitsLoss": "binary_cross_entropy_with_logits"}


@pytest.mark.parametrize("name, args, x, target", LOSS_CASES)
def test_functional_loss_takes_the_modules_arguments_as_torch_does(name, args, x, target):
    """F.cross_entropy(x, t, weight=..., label_smoothing=...) etc.; the weight also positionally,
    third, where torch.nn.functional puts it."""
    torch = pytest.importorskip("torch")
    results = []
    for lib, functional in ((tg, F), (torch, torch.nn.functional)):
        fn = getattr(functional, FUNCTIONAL[name])
        kwargs = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
        z = lib.tensor(x, requires_grad=True)
        weight = kwargs.pop("weight", None)
        out = fn(z, _target(lib, target), weight, **kwargs) if weight is not None else fn(z, _target(lib, target),
                                                                                            **kwargs)
        out.sum().backward()
        results.append((out.detach().numpy(), z.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss"])
def test_functional_regression_losses_broadcast_a_target_of_another_shape_with_a_warning(fn):
    torch = pytest.importorskip("torch")
    x, y = PAIR[0], PAIR[1][0]
    with pytest.warns(UserWarning, match="different to the input size"):
        ours = getattr(F, fn)(tg.tensor(x), tg.tensor(y), reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15)
    with pytest.raises(ValueError, match=fn):
        getattr(F, fn)(tg.tensor(x), tg.tensor(PAIR[1][:, :3]))


def test_binary_cross_entropy_at_zero_and_one_is_pytorchs():
    """Each log is clamped at -100 (a certain wrong answer costs 100), the gradient's denominator at
    1e-12, as in PyTorch; an input outside [0, 1] is refused."""
    torch = pytest.importorskip("torch")
    x, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 0.3])
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ty, ty_t = tg.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    out, expected = F.binary_cross_entropy(ours, ty, reduction="none"), torch.nn.functional.binary_cross_entropy(
        theirs, ty_t, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-15)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(ty.grad.numpy(), ty_t.grad.numpy(), rtol=1e-15)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.BCELoss()(tg.tensor([0.5, 1.5]), tg.tensor([0.0, 1.0]))


def test_huber_loss_takes_a_weight_of_the_inputs_shape_as_torch():
    torch = pytest.importorskip("torch")
    ours = F.huber_loss(tg.tensor(WIDE[0]), tg.tensor(WIDE[1]), weight=tg.tensor(BCE_WEIGHT))
    theirs = torch.nn.functional.huber_loss(torch.tensor(WIDE[0]), torch.tensor(WIDE[1]),
                                            weight=torch.tensor(BCE_WEIGHT))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-14)
    with pytest.raises(ValueError, match="weight"):
        F.huber_loss(tg.tensor(WIDE[0]), tg.tensor(WIDE[1]), weight=tg.tensor(POS_WEIGHT))


def test_weighted_losses_gradgradcheck():
    x = tg.tensor(LOGITS, requires_grad=True)
    loss = nn.CrossEntropyLoss(weight=tg.tensor(WEIGHT), label_smoothing=0.2)
    tg.gradgradcheck(lambda z: loss(z, tg.tensor(CLASSES)), [x])
    bce = nn.BCEWithLogitsLoss(pos_weight=tg.tensor(POS_WEIGHT))
    tg.gradgradcheck(lambda z: bce(z, tg.tensor(BINARY[1])), [tg.tensor(BINARY[0], requires_grad=True)])
    probabilities = [tg.tensor(a, requires_grad=True) for a in PROBABILITIES]
    tg.gradgradcheck(lambda p, y: F.binary_cross_entropy(p, y), probabilities)
    tg.gradgradcheck(lambda a, b: F.huber_loss(a, b, delta=0.5) + F.smooth_l1_loss(a, b, beta=0.5),
                     [tg.tensor(a, requires_grad=True) for a in WIDE])


def test_loss_weight_is_a_buffer_in_the_state_dict():
    loss = nn.NLLLoss(weight=tg.tensor(WEIGHT))
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.NLLLoss().state_dict()) == []
    np.testing.assert_array_equal(loss.double().weight.detach().numpy(), WEIGHT)


@pytest.mark.parametrize("size_average, reduce, expected", [(None, False, "none"), (False, None, "sum"),
                                                            (True, True, "mean"), (False, False, "none")])
def test_legacy_size_average_and_reduce_map_onto_reduction(size_average, reduce, expected):
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        loss = nn.MSELoss(size_average=size_average, reduce=reduce)
    assert loss.reduction == expected


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(TypeError, match="weight must be a Tensor"):
        nn.NLLLoss(weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        nn.NLLLoss(weight=tg.tensor([1.0, 2.0]))(tg.tensor(LOGITS), tg.tensor(CLASSES))
    with pytest.raises(ValueError, match="probability targets"):
        nn.CrossEntropyLoss()(tg.tensor(LOGITS), tg.tensor(PROBS[:2]))
    with pytest.raises(ValueError, match="must match input"):
        nn.BCEWithLogitsLoss(pos_weight=tg.tensor(POS_WEIGHT))(tg.tensor(BINARY[0]), tg.tensor(BINARY[1][:2]))


X = np.concatenate([np.linspace(-4, 4, 14), [-25.0, -0.3, 0.3, 25.0]]).reshape(3, 6)
# module name -> module arguments (PyTorch's module of the same name takes the same)
ACTIVATIONS = [("ReLU", {}), ("Tanh", {}), ("Sigmoid", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
               ("ELU", {}), ("ELU", {"alpha": 0.5}), ("SiLU", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
               ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}), ("LogSigmoid", {}),
               ("Hardtanh", {}), ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("ReLU6", {}), ("Softsign", {}),
               ("Tanhshrink", {}), ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": 0}), ("Softmin", {"dim": 1})]


@pytest.mark.parametrize("name, args", ACTIVATIONS)
def test_activation_matches_torch(name, args):
    torch = pytest.importorskip("torch")
    ours, theirs = tg.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    out, expected = getattr(nn, name)(**args)(ours), getattr(torch.nn, name)(**args)(theirs)
    upstream = RNG.standard_normal(X.shape)
    out.backward(tg.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert repr(getattr(nn, name)(**args)) == repr(getattr(torch.nn, name)(**args))


# away from the kinks (0 and the thresholds), where finite differences are meaningful
SMOOTH_X = np.array([[-2.3, -0.7, 0.4, 1.9], [-0.2, 0.9, 3.1, -1.4]])


@pytest.mark.parametrize("name, args", ACTIVATIONS)
def test_activation_gradcheck_and_gradgradcheck(name, args):
    module = getattr(nn, name)(**args)
    x = tg.tensor(SMOOTH_X, requires_grad=True)
    tg.gradcheck(module, [x])
    if name not in ("ReLU", "LeakyReLU", "Hardtanh", "ReLU6"):  # piecewise linear: no second derivative
        tg.gradgradcheck(module, [x])


def test_special_functions_gradcheck_and_values():
    from scipy import special
    x = tg.tensor(SMOOTH_X, requires_grad=True)
    np.testing.assert_allclose(erf(x).detach().numpy(), special.erf(SMOOTH_X), rtol=1e-15)
    small = tg.tensor(np.array([1e-20, -1e-12, 0.5, 3.0]), requires_grad=True)
    np.testing.assert_array_equal(log1p(small).detach().numpy(), np.log1p(small.detach().numpy()))
    for fn, inputs in ((erf, x), (log1p, small)):
        tg.gradcheck(fn, [inputs])
        tg.gradgradcheck(fn, [inputs])


def test_softmax_modules_without_dim_warn_and_pick_pytorchs_dim():
    x = tg.tensor(LOGITS)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        out = nn.LogSoftmax()(x)
    np.testing.assert_allclose(out.detach().numpy(), F.log_softmax(x, dim=1).detach().numpy())
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = nn.Softmax()(tg.tensor(LOGITS_3D))
    np.testing.assert_allclose(out.detach().numpy(), F.softmax(tg.tensor(LOGITS_3D), dim=0).detach().numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Softmax(dim=-1)(x)


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "ELU", "SiLU", "Hardtanh", "ReLU6"])
def test_inplace_activation_writes_into_its_input_and_keeps_the_gradient(name):
    def run(inplace):
        x = tg.tensor(X, requires_grad=True)
        hidden = x * 1.5
        out = getattr(nn, name)(inplace=inplace)(hidden)
        (out * out).sum().backward()
        return hidden, out, x.grad.numpy()

    hidden, out, grad = run(inplace=True)
    _, expected, expected_grad = run(inplace=False)
    assert out is hidden
    np.testing.assert_array_equal(hidden.detach().numpy(), expected.detach().numpy())
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-15)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(nn, name)(inplace=True)(tg.tensor(X, requires_grad=True))


def test_activation_argument_errors():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(TypeError, match="floating-point"):
        F.elu(tg.tensor([1, 2]))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_functional_softmax_without_dim_takes_pytorchs_implicit_dim(fn, ndim):
    """F.softmax(x) on a (T, B, C) input runs along dim 0, as PyTorch's (deprecated) implicit choice."""
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 4, 5)[:ndim])
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {fn}") as record:
        ours = getattr(F, fn)(tg.tensor(x))
    assert record[0].filename == __file__  # the warning names the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn.functional, fn)(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-14)
    cast = getattr(F, fn)(tg.tensor(x, dtype=tg.float32), -1, dtype=tg.float64)
    assert cast.dtype == np.float64
