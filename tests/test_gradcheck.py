"""gradcheck and gradgradcheck themselves: they pass correct gradients and catch wrong ones."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import GradcheckError, ops
from tinygrad_rnn.autograd import Function


def f64(data, requires_grad=True):
    return tg.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def make_cube(scale=3.0, sign=1.0):
    """x³ whose backward is sign * scale * x² * g (correct for scale 3, sign +1)."""
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x * x * (sign * scale)

    return Cube.apply


class WeightedSum(Function):
    """(a * b, a + b) with a wrong gradient for b only at index 2 of the first output."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wrong = np.ones(a.shape)
        wrong[2] = 1.5
        return g * b, g * a * wrong


class LazySquare(Function):
    """x² whose backward is right in value but uses x as a constant: its double backward is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2.0 * x.detach()


X = np.array([0.4, -1.3, 2.2, 0.9])


# --------------------------------------------------------------------------------------- passing

@pytest.mark.parametrize("mode", ["full", "projection"])
def test_passes_on_correct_ops(mode):
    x = f64(X)
    w = f64(np.arange(8.0).reshape(4, 2) / 8)
    assert tg.gradcheck(make_cube(), [x], mode=mode)
    assert tg.gradcheck(lambda a, b: (a @ b).tanh().sum(0), [x, w], mode=mode)
    assert tg.gradcheck(lambda a: tg.softmax(a, 0) * a.sigmoid(), x, mode=mode)  # a lone Tensor works too
    t = tg.tensor([1, 0])
    assert tg.gradcheck(lambda a, tgt: ops.cross_entropy(a.reshape(2, 2), tgt), [x, t], mode=mode)


@pytest.mark.parametrize("mode", ["full", "projection"])
def test_multiple_outputs_and_non_tensor_arguments(mode):
    x = f64(X)
    assert tg.gradcheck(lambda a, k: (a * k, a.exp(), tg.tensor([1, 2])), [x, 2.5], mode=mode)


def test_gradcheck_restores_inputs():
    x = f64(X)
    before = x._data.copy()
    tg.gradcheck(make_cube(), [x])
    tg.gradcheck(make_cube(), [x], mode="projection")
    tg.gradcheck(make_cube(scale=4.0), [x], raise_exception=False)
    np.testing.assert_array_equal(x._data, before)


def test_gradgradcheck_passes_on_correct_ops():
    x = f64(X)
    assert tg.gradgradcheck(make_cube(), [x])
    assert tg.gradgradcheck(make_cube(), [x], mode="projection")
    assert tg.gradgradcheck(lambda a: (a.tanh() * a).sum(), [x])
    go = f64([1.0, -2.0, 0.5, 3.0])
    assert tg.gradgradcheck(lambda a: a.sigmoid() * a, [x], grad_outputs=[go])


# --------------------------------------------------------------------------------------- catching

@pytest.mark.parametrize("mode", ["full", "projection"])
@pytest.mark.parametrize("scale,sign", [(3.3, 1.0), (3.0, -1.0), (6.0, 1.0)], ids=["factor", "sign", "double"])
def test_catches_wrong_backward(mode, scale, sign):
    x = f64(X)
    with pytest.raises(GradcheckError) as err:
        tg.gradcheck(make_cube(scale, sign), [x], mode=mode)
    msg = str(err.value)
    assert "analytic" in msg and "numeric" in msg
    assert isinstance(err.value, RuntimeError)
    assert tg.gradcheck(make_cube(scale, sign), [x], mode=mode, raise_exception=False) is False


def test_full_report_names_input_index_analytic_and_numeric():
    """The report points at the wrong entry: input 1 (b), index (2,), with both values."""
    a, b = f64(X), f64([1.0, 2.0, -3.0, 0.5])
    with pytest.raises(GradcheckError) as err:
        tg.gradcheck(WeightedSum.apply, [a, b])
    msg = str(err.value)
    assert re.search(r"input 1\b", msg), msg
    assert "index (2,)" in msg, msg
    numeric, analytic = X[2], 1.5 * X[2]  # d(a*b)[2]/db[2] = a[2]
    assert re.search(rf"analytic {analytic:.6g}", msg), msg
    assert re.search(rf"numeric {numeric:.6g}", msg), msg


def test_report_has_one_check_per_input_and_points_at_the_wrong_one():
    a, b = f64(X), f64([1.0, 2.0, -3.0, 0.5])
    report = tg.gradcheck_report(WeightedSum.apply, [a, b])
    assert [c.input for c in report] == [0, 1] and not report.passed
    assert report[0].passed and not report[1].passed and report.worst is report[1]
    assert report[1].index == (2,) and report[1].numeric == pytest.approx(X[2], rel=1e-6)
    assert report[1].analytic == pytest.approx(1.5 * X[2], rel=1e-9)
    assert report[1].error > report[1].tolerance == pytest.approx(1e-5 + 1e-3 * abs(X[2]), rel=1e-6)
    assert "gradcheck (full) ok: input 0" in str(report) and "gradcheck (full) failed: input 1" in str(report)


@pytest.mark.parametrize("per_input, inputs", [(True, [0, 1]), (False, ["all"])])
def test_projection_report_per_input_or_joint(per_input, inputs):
    a, b = f64(X), f64([1.0, 2.0, -3.0, 0.5])
    report = tg.gradcheck_report(WeightedSum.apply, [a, b], mode="projection", per_input=per_input)
    assert [c.input for c in report] == inputs and not report.passed
    if per_input:  # perturbing one input at a time tells which one is wrong
        assert report[0].passed and not report[1].passed


def test_a_nan_gradient_fails_and_is_the_worst():
    class NaNGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x, y = f64(X), f64(X)
    report = tg.gradcheck_report(lambda x, y: NaNGrad.apply(x) + y * 3.0, [x, y])
    assert not report[0].passed and report[1].passed and report.worst is report[0]
    with pytest.raises(GradcheckError, match="input 0"):
        tg.gradcheck(lambda x, y: NaNGrad.apply(x) + y * 3.0, [x, y])


def test_projection_report_names_values():
    x = f64(X)
    with pytest.raises(GradcheckError, match=r"projection.*analytic -?\d.*numeric -?\d"):
        tg.gradcheck(make_cube(sign=-1.0), [x], mode="projection")


def test_within_tolerance_passes_and_tolerances_are_honoured():
    x = f64(X)
    slightly_off = make_cube(scale=3.0 * (1 + 1e-4))  # relative error 1e-4 < rtol 1e-3
    assert tg.gradcheck(slightly_off, [x])
    assert not tg.gradcheck(slightly_off, [x], rtol=1e-6, atol=1e-8, raise_exception=False)


def test_refuses_float32_inputs():
    x = tg.tensor(X.astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(make_cube(), [x])
    with pytest.raises(TypeError, match="float64"):
        tg.gradgradcheck(make_cube(), [x])


def test_needs_a_differentiable_input():
    with pytest.raises(ValueError, match="requires grad"):
        tg.gradcheck(lambda a: a * 2, [f64(X, requires_grad=False)])


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        tg.gradcheck(make_cube(), [f64(X)], mode="sideways")


@pytest.mark.parametrize("mode", ["full", "projection"])
def test_gradgradcheck_catches_wrong_double_backward(mode):
    """LazySquare's first derivative is right, so gradcheck passes; its backward treats x as a constant,
    so the second derivative (2 g) is lost, and gradgradcheck must say so."""
    x = f64(X)
    assert tg.gradcheck(LazySquare.apply, [x], mode=mode)
    with pytest.raises(GradcheckError, match="analytic"):
        tg.gradgradcheck(LazySquare.apply, [x], mode=mode)
    assert tg.gradgradcheck(LazySquare.apply, [x], mode=mode, raise_exception=False) is False

