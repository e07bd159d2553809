"""ctc_loss against torch.nn.functional.ctc_loss, through a log_softmax of logits (where PyTorch's CPU
gradient, which adds exp(log_probs) to the true one, and ours agree): values and gradients in float64
for every reduction, zero_infinity on and off, padded, concatenated and unbatched targets."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

torch = pytest.importorskip("torch")


def both(logits, targets, input_lengths, target_lengths, **kw):
    """(ours, PyTorch): the loss values and the gradients with respect to the logits."""
    x = tg.tensor(logits, requires_grad=True)
    loss = F.ctc_loss(tg.log_softmax(x, -1), targets, input_lengths, target_lengths, **kw)
    loss.sum().backward()
    xt = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.tensor(targets), torch.tensor(input_lengths),
                                      torch.tensor(target_lengths), **kw)
    lt.sum().backward()
    return (loss.detach().numpy(), x.grad.numpy()), (lt.detach().numpy(), xt.grad.numpy())


@st.composite
def problems(draw):
    T, N, C = draw(st.integers(1, 20)), draw(st.integers(1, 4)), draw(st.integers(2, 7))
    S = draw(st.integers(0, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    targets = rng.integers(1, C, (N, S))
    if S and draw(st.booleans()):  # runs of repeated labels
        targets[:, 1::2] = targets[:, ::2][:, :targets[:, 1::2].shape[1]]
    return (3 * rng.standard_normal((T, N, C)), targets, rng.integers(0, T + 1, N), rng.integers(0, S + 1, N))


@given(problems(), st.sampled_from(["none", "mean", "sum"]), st.booleans())
def test_values_and_gradients_match(problem, reduction, zero_infinity):
    (ours, ours_grad), (ref, ref_grad) = both(*problem, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_grad, ref_grad, rtol=1e-8, atol=1e-10)  # NaN where both are NaN


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_impossible_and_empty_targets(reduction, zero_infinity):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 4, 3))
    targets = np.array([[1, 1, 1], [1, 2, 1], [2, 2, 0], [1, 0, 0]])
    input_lengths, target_lengths = [4, 2, 4, 0], [3, 3, 0, 1]  # too short, too short, empty, no frames
    (ours, ours_grad), (ref, ref_grad) = both(logits, targets, input_lengths, target_lengths,
                                              reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(ours_grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_concatenated_and_unbatched_targets():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((10, 3, 5))
    flat, lengths, il = np.array([1, 2, 2, 4, 3, 1]), np.array([3, 1, 2]), np.array([10, 9, 7])
    (ours, g), (ref, rg) = both(logits, flat, il, lengths, reduction="none")
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(g, rg, atol=1e-12)
    (ours, g), (ref, rg) = both(logits[:, 0], flat[:3], np.array(10), np.array(3), reduction="none")
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(g, rg, atol=1e-12)


def test_float32_matches():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((60, 4, 12)).astype(np.float32)
    targets = rng.integers(1, 12, (4, 20))
    (ours, g), (ref, rg) = both(logits, targets, np.array([60, 55, 50, 45]), np.array([20, 15, 10, 5]))
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    np.testing.assert_allclose(g, rg, atol=1e-6)
