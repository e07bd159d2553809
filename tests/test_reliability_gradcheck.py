"""gradcheck on functions that register hooks, and on functions that raise (issue 11, items 5 and 9)."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.gradcheck import GradcheckError

MODES = ["full", "projection"]


def _with_hook(hook):
    def fn(x):
        y = x * 2.0
        y.register_hook(hook)
        return (y * y).sum(0)
    return fn


@pytest.mark.parametrize("mode", MODES)
def test_a_function_registering_a_hook_is_checked(mode):
    """It works under backward, so it must work under gradcheck (it raised: no grad mode)."""
    seen = []
    x = tg.randn(3, 2, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(_with_hook(lambda g: seen.append(g.shape)), [x], mode=mode)
    assert seen and set(seen) == {(3, 2)}


@pytest.mark.parametrize("mode", MODES)
def test_a_hook_that_corrupts_the_gradient_is_caught(mode):
    x = tg.randn(3, 2, dtype=np.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match=mode):
        tg.gradcheck(_with_hook(lambda g: g * 3.0), [x], mode=mode)
    assert not tg.gradcheck(_with_hook(lambda g: g + 1.0), [x], mode=mode, raise_exception=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fail_at", [3, 4, 8, 9])  # full: 1 + 6 calls before the first perturbed one
def test_inputs_are_restored_when_the_function_raises(mode, fail_at):
    """The call that raises sees a perturbed input; afterwards the input is bit for bit as before."""
    x = tg.randn(2, 3, dtype=np.float64, requires_grad=True)
    w = tg.randn(3, dtype=np.float64, requires_grad=True)
    before = x.detach().numpy().copy(), w.detach().numpy().copy()
    calls = []

    def fn(a, b):
        calls.append(1)
        if len(calls) == fail_at:
            raise ArithmeticError("boom")
        return (a * b).tanh()

    with pytest.raises(ArithmeticError, match="boom"):
        tg.gradcheck(fn, [x, w], mode=mode)
    np.testing.assert_array_equal(x.detach().numpy(), before[0])
    np.testing.assert_array_equal(w.detach().numpy(), before[1])
