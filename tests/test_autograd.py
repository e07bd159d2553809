"""The backward engine: deep graphs, accumulation, grad mode, detach, retain_grad, hooks, autograd.grad,
custom Functions, dtypes."""
import inspect
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import autograd
from tinygrad_rnn.autograd import Function


def f64(data, requires_grad=True):
    return tg.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# --------------------------------------------------------------------------------------- deep graphs

def test_100k_node_chain_backward_is_iterative():
    """A 100,000-op chain differentiates with the recursion limit *lowered* to just above the current
    stack depth: the engine cannot be recursing per node, and it does not raise the limit itself."""
    x = f64(1.0)
    y = x
    for _ in range(50_000):
        y = y * 0.99999
        y = y + 0.5
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        y.backward()
        assert sys.getrecursionlimit() == len(inspect.stack()) + 100
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(x.grad.item(), 0.99999 ** 50_000, rtol=1e-9)
    del y  # tearing the chain down must not blow the C stack either


def test_deep_chain_autograd_grad_and_create_graph():
    x = f64(0.5)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    (g,) = autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.item(), 1.0001 ** 20_000, rtol=1e-9)
    assert x.grad is None  # autograd.grad does not touch .grad


# --------------------------------------------------------------------------------------- accumulation

def test_shared_weight_in_a_loop_gets_the_sum_of_per_step_gradients():
    rng = np.random.default_rng(0)
    w0, h0 = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal(3)
    steps = 6

    w = f64(w0)
    h = f64(h0, requires_grad=False)
    for _ in range(steps):
        h = (w @ h).tanh()
    h.sum().backward()

    copies = [f64(w0) for _ in range(steps)]  # the same weight as one leaf per step
    h = f64(h0, requires_grad=False)
    for wc in copies:
        h = (wc @ h).tanh()
    h.sum().backward()
    np.testing.assert_allclose(w.grad._data, sum(c.grad._data for c in copies), rtol=1e-13, atol=1e-15)
    assert not np.allclose(copies[0].grad._data, copies[-1].grad._data)  # the steps really differ


def test_tensor_used_many_times_in_one_expression():
    x = f64([1.0, -2.0, 3.0])
    y = x * x + x * 3.0 + x / 2.0 - x  # 2x + 3 + 1/2 - 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad._data, 2 * x._data + 2.5, rtol=1e-15)


def test_diamond_graph():
    x = f64([0.5, 1.5])
    a = x * 2.0
    b = x.exp()
    c = a * b + a  # d/dx = 2 e^x + 2x e^x + 2
    d = c.sum() + (a * a).sum()  # + 8x
    d.backward()
    e = np.exp(x._data)
    np.testing.assert_allclose(x.grad._data, 2 * e + 2 * x._data * e + 2 + 8 * x._data, rtol=1e-14)


def test_grad_accumulates_across_backward_calls_and_can_be_reset():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad._data, [2.0 + 3.0, 4.0 + 3.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad._data, [2.0, 4.0])


def test_leaf_grads_are_private_writable_arrays():
    """a + b hands the same gradient to both inputs, sum's backward is a broadcast view: the .grad
    of each leaf must still be its own array, so in-place updates of one never touch another."""
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    g = f64([1.0, 1.0], requires_grad=False)
    (a + b).backward(g)
    assert a.grad is not b.grad and a.grad is not g
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad._data, [1.0, 1.0])
    np.testing.assert_array_equal(g._data, [1.0, 1.0])
    x = f64(np.ones((2, 3)))
    x.sum().backward()
    x.grad._data *= 2.0  # writable
    np.testing.assert_array_equal(x.grad._data, np.full((2, 3), 2.0))


def test_grad_flows_only_to_leaves_that_require_it():
    x, c = f64([1.0, 2.0]), f64([5.0, 6.0], requires_grad=False)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad._data, [5.0, 6.0])


# --------------------------------------------------------------------------------------- grad mode

def test_no_grad_context_manager_and_nesting():
    x = f64([1.0, 2.0])
    with tg.no_grad():
        y = x * 2
        assert not tg.is_grad_enabled()
        with tg.enable_grad():
            z = x * 2
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_and_enable_grad_as_decorators():
    x = f64([1.0, 2.0])

    @tg.no_grad()
    def f(t):
        return t * 2

    @tg.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert g(x).requires_grad
        assert not tg.is_grad_enabled()


def test_no_grad_decorator_is_reentrant():
    """One decorator instance serves every call: a recursive call must not leave grad mode off."""
    @tg.no_grad()
    def depth(n):
        assert not tg.is_grad_enabled()
        return depth(n - 1) if n else 0

    depth(3)
    assert tg.is_grad_enabled()

    @tg.enable_grad()
    def inner():
        return tg.is_grad_enabled()

    @tg.no_grad()
    def outer():
        return inner(), tg.is_grad_enabled(), inner(), tg.is_grad_enabled()

    assert outer() == (True, False, True, False)
    assert tg.is_grad_enabled()


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(KeyError):
        with tg.no_grad():
            raise KeyError("boom")
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    assert not tg.is_grad_enabled() and not (f64(1.0) * 2).requires_grad
    tg.set_grad_enabled(True)


# --------------------------------------------------------------------------------------- detach, retain_grad

def test_detach_shares_data_and_stops_gradient():
    x = f64([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d._data, x._data)
    (x * d).sum().backward()  # d is a constant: d(x * c)/dx = c
    np.testing.assert_array_equal(x.grad._data, [1.0, 2.0])
    y = (x * 3).detach()
    assert y.is_leaf and not y.requires_grad


def test_retain_grad_on_non_leaf():
    x = f64([1.0, 2.0])
    h = x * x
    k = h * 2
    h.retain_grad()
    (k * 3).sum().backward()
    np.testing.assert_array_equal(h.grad._data, [6.0, 6.0])
    assert k.grad is None  # not retained
    np.testing.assert_array_equal(x.grad._data, [12.0, 24.0])
    x.retain_grad()  # a no-op on leaves


# --------------------------------------------------------------------------------------- hooks

def test_hook_on_leaf_sees_gradient_and_can_replace_it():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g._data.copy()))
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad._data, [30.0, 30.0])


def test_hook_on_non_leaf_replacement_is_used_downstream():
    """As in PyTorch: the hook's return value is the gradient that flows on to the inputs."""
    x = f64([1.0, 2.0])
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g._data.copy()))
    y.register_hook(lambda g: g + 1.0)
    (y * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad._data, 2 * x._data * 4.0)


def test_hook_runs_on_summed_gradient_once():
    x = f64([1.0])
    y = x * 2
    calls = []
    y.register_hook(lambda g: calls.append(g.item()))
    (y * 3 + y * 4).sum().backward()
    assert calls == [7.0]


def test_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="requires? grad"):
        tg.tensor([1.0]).register_hook(lambda g: g)


# --------------------------------------------------------------------------------------- autograd.grad

def test_grad_with_grad_outputs_and_multiple_inputs():
    x, w = f64([1.0, 2.0]), f64([3.0, 4.0])
    y = x * w
    gx, gw = autograd.grad(y, [x, w], grad_outputs=f64([1.0, 10.0], requires_grad=False))
    np.testing.assert_array_equal(gx._data, [3.0, 40.0])
    np.testing.assert_array_equal(gw._data, [1.0, 20.0])
    assert x.grad is None and w.grad is None


def test_grad_of_several_outputs_sums_them():
    x = f64([1.0, 2.0])
    (g,) = autograd.grad([x * 2, x * x], [x], [f64([1.0, 1.0], False), f64([1.0, 1.0], False)])
    np.testing.assert_array_equal(g._data, [4.0, 6.0])


def test_grad_with_respect_to_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * x
    gh, gx = autograd.grad((h * 3).sum(), [h, x])
    np.testing.assert_array_equal(gh._data, [3.0, 3.0])
    np.testing.assert_array_equal(gx._data, [6.0, 12.0])


def test_grad_allow_unused():
    x, unused = f64([1.0]), f64([2.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 2.0


def test_second_derivative_of_cube_is_6x():
    x = f64([0.5, -1.5, 2.0])
    (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g._data, 3 * x._data ** 2, rtol=1e-15)
    assert g.requires_grad
    (gg,) = autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg._data, 6 * x._data, rtol=1e-15)


def test_backward_create_graph_gives_differentiable_grad():
    x = f64(2.0)
    (x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad
    (gg,) = autograd.grad(x.grad, x)
    assert gg.item() == pytest.approx(12.0, rel=1e-15)


def _f(x):
    """A small nonlinear function: sum(tanh(A x) * x) + (x0 x1 x2)."""
    a = np.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.0], [0.5, 0.1, 0.7]])
    return ((a @ x).tanh() * x).sum() + x[0] * x[1] * x[2]


def test_hessian_vector_product_matches_finite_differences():
    x0 = np.array([0.3, -0.7, 1.1])
    v = np.array([0.5, 1.0, -2.0])

    def grad_at(xv):
        x = f64(xv)
        (g,) = autograd.grad(_f(x), x)
        return g._data

    x = f64(x0)
    (g,) = autograd.grad(_f(x), x, create_graph=True)
    (hv,) = autograd.grad((g * f64(v, False)).sum(), x)
    eps = 1e-5
    fd = (grad_at(x0 + eps * v) - grad_at(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv._data, fd, rtol=1e-7, atol=1e-9)


def test_backward_of_non_scalar_needs_a_gradient():
    x = f64(np.ones((2, 3)))
    y = x * 2
    with pytest.raises(RuntimeError) as err:  # ShapeError: a ValueError and a RuntimeError
        y.backward()
    assert isinstance(err.value, ValueError)
    assert "(2, 3)" in str(err.value) and "backward" in str(err.value)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        y.backward(tg.ones(3, 2, dtype=np.float64))
    y.backward(tg.ones(2, 3, dtype=np.float64))
    np.testing.assert_array_equal(x.grad._data, np.full((2, 3), 2.0))


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).sum().backward()


def test_second_backward_through_freed_graph():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad._data, 3 * (np.exp(x._data) * (1 + x._data)), rtol=1e-15)


# --------------------------------------------------------------------------------------- custom Functions

class Square(Function):
    calls = []

    @staticmethod
    def forward(ctx, x):
        Square.calls.append(("forward", type(x)))
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        Square.calls.append(("backward", type(g)))
        (x,) = ctx.saved_tensors
        return 2.0 * x * g


class ScaledAdd(Function):
    """a + k b with a Python-number argument k; records needs_input_grad."""

    seen = None

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.k = k
        ScaledAdd.seen = ctx.needs_input_grad
        return a + k * b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b, _ = ctx.needs_input_grad
        return (g if need_a else None), (g * ctx.k if need_b else None), None


def test_custom_function_forward_on_arrays_backward_on_tensors():
    Square.calls.clear()
    x = f64([1.0, -2.0, 3.0])
    y = Square.apply(x)
    assert isinstance(y, tg.Tensor) and y.grad_fn is not None
    np.testing.assert_array_equal(y._data, [1.0, 4.0, 9.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, [2.0, -4.0, 6.0])
    assert Square.calls == [("forward", np.ndarray), ("backward", tg.Tensor)]


def test_custom_function_gradcheck_and_gradgradcheck():
    x = f64([0.3, -1.2, 2.0])
    assert tg.gradcheck(Square.apply, [x])
    assert tg.gradcheck(Square.apply, [x], mode="projection")
    assert tg.gradgradcheck(Square.apply, [x])


def test_custom_function_needs_input_grad_and_none_gradients():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    y = ScaledAdd.apply(a, b, 5.0)
    assert tuple(ScaledAdd.seen) == (True, False, False)
    np.testing.assert_array_equal(y._data, [16.0, 22.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad._data, [1.0, 1.0])
    assert b.grad is None
    b.requires_grad_()
    ScaledAdd.apply(a, b, 5.0).sum().backward()
    assert tuple(ScaledAdd.seen) == (True, True, False)
    np.testing.assert_array_equal(b.grad._data, [5.0, 5.0])


def test_custom_function_not_recorded_under_no_grad():
    x = f64([1.0])
    with tg.no_grad():
        y = Square.apply(x)
    assert not y.requires_grad and y.grad_fn is None


def test_custom_function_wrong_number_of_gradients():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="Bad.*2"):
        Bad.apply(f64([1.0]), f64([2.0])).sum().backward()


# --------------------------------------------------------------------------------------- dtypes

def test_mixed_dtype_gradients_match_their_inputs():
    x32 = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    c64 = np.array([0.5, 0.25])
    y = x32 * c64
    y.sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad._data, c64)

    a32 = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b64 = f64([3.0, 4.0])
    (a32 * b64 + b64).sum().backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    np.testing.assert_allclose(b64.grad._data, [2.0, 3.0])


def test_float32_graph_keeps_float32_gradients():
    x = tg.randn(3, 4, requires_grad=True)
    w = tg.randn(4, 2, requires_grad=True)
    loss = ((x @ w).tanh() * 2.0 + 1).sigmoid().mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@pytest.mark.parametrize("op", ["mul", "add", "sub", "truediv", "matmul", "pow"])
def test_ndarray_on_the_left_gives_a_tensor(op):
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    a = np.array([[0.5, 1.5], [2.0, 3.0]])
    fn = {"mul": lambda: a * x, "add": lambda: a + x, "sub": lambda: a - x, "truediv": lambda: a / x,
          "matmul": lambda: a @ x, "pow": lambda: a ** x}[op]
    y = fn()
    assert isinstance(y, tg.Tensor) and y.requires_grad
    ref = {"mul": np.multiply, "add": np.add, "sub": np.subtract, "truediv": np.divide,
           "matmul": np.matmul, "pow": np.power}[op](a, x._data)
    np.testing.assert_allclose(y._data, ref, rtol=1e-15)
    y.sum().backward()
    assert x.grad.shape == (2, 2)


def test_numpy_scalar_on_the_left_gives_a_tensor():
    x = f64([1.0, 2.0])
    y = np.float64(3.0) * x
    assert isinstance(y, tg.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, [3.0, 3.0])


def test_set_grad_enabled_is_a_function_a_context_manager_and_a_decorator():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled() and (x * 2).requires_grad

    @tg.set_grad_enabled(False)
    def frozen():
        return (x * 2).requires_grad
    assert tg.is_grad_enabled() and frozen() is False and tg.is_grad_enabled()
    tg.set_grad_enabled(False)  # called: at once, until set again
    try:
        assert not (x * 2).requires_grad
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()


def test_bare_no_grad_and_enable_grad_decorate():
    x = tg.tensor([1.0], requires_grad=True)

    @tg.no_grad
    def inside():
        return (x * 2).requires_grad

    @tg.enable_grad
    def recorded():
        return (x * 2).requires_grad
    assert inside() is False and tg.is_grad_enabled()
    with tg.no_grad():
        assert recorded() is True


@pytest.mark.parametrize("leaf", [True, False])
def test_register_hook_returns_a_handle_that_removes_the_hook(leaf):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x if leaf else x * 1
    calls = []
    double = y.register_hook(lambda g: calls.append("double") or g * 2)
    y.register_hook(lambda g: calls.append("kept"))
    double.remove()
    double.remove()  # a second remove does nothing
    (y * 3).sum().backward(retain_graph=True)
    assert calls == ["kept"] and x.grad.tolist() == [3.0, 3.0]
    with y.register_hook(lambda g: g * 10):
        pass  # removed on leaving the block
    x.grad = None
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_an_in_place_change_to_a_factor_whose_partner_needs_no_gradient_is_allowed():
    """Mul saves each factor only for the other's gradient, as PyTorch: b.add_(1) below changes
    nothing the backward reads; with w requiring grad it would, and is refused."""
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b * tg.tensor([3.0, 4.0])
    b.add_(1)
    c.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0]
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    b = a * 1
    c = b * w
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        c.sum().backward()


def test_autograd_backward_takes_sequences_as_torch():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    a, b = (x * x).sum(), x * 3
    tg.autograd.backward([a, b], [None, tg.tensor([1.0, 10.0])])
    assert x.grad.tolist() == [2.0 + 3.0, 4.0 + 30.0]
    with pytest.raises(ValueError, match="2 tensors"):
        tg.autograd.backward([x * 1, x * 2], [None])
