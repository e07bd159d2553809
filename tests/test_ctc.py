"""ctc_loss: finite differences on log_probs (full and projection), a brute-force sum over every
alignment on tiny cases, reductions, zero_infinity, target layouts, the module, the second-order
refusal and bad input."""
import itertools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import autograd, nn
from tinygrad_rnn.nn import functional as F


@st.composite
def ctc_cases(draw, max_t=6, max_n=3, max_c=5, max_s=4):
    """log_probs (T, N, C), padded targets (repeats allowed), lengths (empty targets and impossible
    alignments included), and a blank anywhere in [0, C)."""
    T, N, C = draw(st.integers(1, max_t)), draw(st.integers(1, max_n)), draw(st.integers(2, max_c))
    blank = draw(st.integers(0, C - 1))
    labels = [k for k in range(C) if k != blank]
    S = draw(st.integers(0, max_s))
    targets = np.array([[draw(st.sampled_from(labels)) for _ in range(S)] for _ in range(N)], np.int64).reshape(N, S)
    target_lengths = np.array([draw(st.integers(0, S)) for _ in range(N)])
    input_lengths = np.array([draw(st.integers(0, T)) for _ in range(N)])
    seed = draw(st.integers(0, 2**16))
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(C), (T, N)))
    return log_probs, targets, input_lengths, target_lengths, blank


def collapse(path, blank):
    return tuple(k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1]))


def brute_force_nll(log_probs, target, blank):
    """-log Σ over every path of the frames whose collapse is the target of Π p (inf if none)."""
    T, C = log_probs.shape
    total = sum(np.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
                for path in itertools.product(range(C), repeat=T) if collapse(path, blank) == tuple(target))
    return -np.log(total) if total > 0 else np.inf


@given(ctc_cases(max_t=5, max_c=4))
def test_equals_brute_force_sum_over_alignments(case):
    log_probs, targets, input_lengths, target_lengths, blank = case
    loss = F.ctc_loss(tg.tensor(log_probs), targets, input_lengths, target_lengths, blank=blank, reduction="none")
    expected = [brute_force_nll(log_probs[:input_lengths[n], n], targets[n, :target_lengths[n]], blank)
                for n in range(len(targets))]
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-10)


def test_brute_force_on_repeats_and_empty_target():
    rng = np.random.default_rng(1)
    log_probs = np.log(rng.dirichlet(np.ones(3), (5, 3)))
    targets = np.array([[1, 1], [2, 1], [0, 0]])
    lengths = np.array([2, 2, 0])
    loss = F.ctc_loss(tg.tensor(log_probs), targets, [5, 5, 5], lengths, reduction="none").detach().numpy()
    expected = [brute_force_nll(log_probs[:, n], targets[n, :lengths[n]], 0) for n in range(3)]
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    # an empty target is read only as blanks: -Σ_t log p_t(blank)
    np.testing.assert_allclose(loss[2], -log_probs[:, 2, 0].sum(), rtol=1e-12)


@given(ctc_cases(), st.sampled_from(["none", "mean", "sum"]))
def test_gradcheck_full(case, reduction):
    log_probs, targets, input_lengths, target_lengths, blank = case
    x = tg.tensor(log_probs, requires_grad=True)
    assert tg.gradcheck(lambda x: F.ctc_loss(x, targets, input_lengths, target_lengths, blank=blank,
                                             reduction=reduction, zero_infinity=True), [x], mode="full")


@given(ctc_cases(max_t=30, max_n=4, max_c=8, max_s=10), st.integers(0, 99))
def test_gradcheck_projection(case, seed):
    log_probs, targets, input_lengths, target_lengths, blank = case
    x = tg.tensor(log_probs, requires_grad=True)
    assert tg.gradcheck(lambda x: F.ctc_loss(x, targets, input_lengths, target_lengths, blank=blank,
                                             reduction="none", zero_infinity=True), [x],
                        mode="projection", seed=seed)


def test_gradient_is_minus_the_label_occupancy():
    """Σ_k d(-log p)/d log y_t(k) = -1 at every frame inside the input: each frame is in some state."""
    rng = np.random.default_rng(2)
    x = tg.tensor(rng.standard_normal((9, 2, 4)), requires_grad=True)
    F.ctc_loss(x, np.array([[1, 2, 2], [3, 0, 0]]), [9, 6], [3, 1], reduction="sum").backward()
    g = x.grad.numpy()
    np.testing.assert_allclose(g[:, 0].sum(-1), -1, rtol=1e-12)
    np.testing.assert_allclose(g[:6, 1].sum(-1), -1, rtol=1e-12)
    assert np.all(g[6:, 1] == 0) and np.all(g <= 0)


def test_reductions():
    rng = np.random.default_rng(3)
    x = tg.tensor(np.log(rng.dirichlet(np.ones(5), (8, 3))))
    args = (np.array([[1, 2, 3], [4, 4, 0], [2, 0, 0]]), [8, 7, 8], [3, 2, 0])
    none = F.ctc_loss(x, *args, reduction="none").detach().numpy()
    assert none.shape == (3,)
    np.testing.assert_allclose(F.ctc_loss(x, *args, reduction="sum").item(), none.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.ctc_loss(x, *args).item(), np.mean(none / np.array([3, 2, 1])), rtol=1e-12)


def test_impossible_alignment_is_inf_or_zero():
    x = tg.tensor(np.log(np.full((3, 2, 3), 1 / 3)), requires_grad=True)
    targets, lengths = np.array([[1, 1], [1, 2]]), [2, 2]  # 1 1 needs three frames, 1 2 needs two
    loss = F.ctc_loss(x, targets, [2, 1], lengths, reduction="none")
    assert np.all(np.isinf(loss.detach().numpy()))
    loss.sum().backward()
    assert np.all(np.isnan(x.grad.numpy()[:2, 0])) and np.all(np.isnan(x.grad.numpy()[:1, 1]))
    x.grad = None
    loss = F.ctc_loss(x, targets, [2, 1], lengths, reduction="sum", zero_infinity=True)
    loss.backward()
    assert loss.item() == 0 and np.all(x.grad.numpy() == 0)


def test_zero_input_length():
    x = tg.tensor(np.zeros((4, 2, 3)), requires_grad=True)
    loss = F.ctc_loss(x, np.array([[1], [1]]), [0, 0], [0, 1], reduction="none", zero_infinity=False)
    assert loss.detach().numpy()[0] == 0 and np.isinf(loss.detach().numpy()[1])


def test_target_layouts_agree():
    rng = np.random.default_rng(4)
    x = tg.tensor(np.log(rng.dirichlet(np.ones(4), (6, 2))))
    padded, lengths = np.array([[1, 2, 3], [3, 3, 0]]), np.array([3, 2])
    a = F.ctc_loss(x, padded, [6, 5], lengths, reduction="none").detach().numpy()
    b = F.ctc_loss(x, np.array([1, 2, 3, 3, 3]), [6, 5], lengths, reduction="none").detach().numpy()
    c = F.ctc_loss(x, tg.tensor(padded), tg.tensor(np.array([6, 5])), tg.tensor(lengths), reduction="none")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c.detach().numpy())
    one = F.ctc_loss(x[:, 1], np.array([3, 3]), 5, 2, reduction="none")  # unbatched (T, C)
    assert one.shape == () and one.item() == pytest.approx(a[1], rel=1e-12)


def test_float32_matches_float64():
    rng = np.random.default_rng(5)
    lp = np.log(rng.dirichlet(np.ones(6), (40, 3)))
    args = (rng.integers(1, 6, (3, 12)), [40, 35, 30], [12, 10, 0])
    x64, x32 = tg.tensor(lp, requires_grad=True), tg.tensor(lp.astype(np.float32), requires_grad=True)
    l64, l32 = F.ctc_loss(x64, *args), F.ctc_loss(x32, *args)
    assert l32.dtype == np.float32
    l64.backward()
    l32.backward()
    np.testing.assert_allclose(l32.item(), l64.item(), rtol=1e-5)
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), atol=1e-5)


def test_module_matches_functional():
    rng = np.random.default_rng(6)
    x = tg.tensor(np.log(rng.dirichlet(np.ones(4), (5, 2))))
    args = (np.array([[1, 2], [3, 0]]), [5, 4], [2, 1])
    loss = nn.CTCLoss(blank=0, reduction="sum")
    assert loss(x, *args).item() == F.ctc_loss(x, *args, reduction="sum").item()
    assert "reduction='sum'" in repr(loss)
    with pytest.raises(ValueError, match="reduction"):
        nn.CTCLoss(reduction="avg")


def test_second_derivative_is_refused():
    x = tg.tensor(np.log(np.full((4, 1, 3), 1 / 3)), requires_grad=True)
    loss = F.ctc_loss(x, np.array([[1]]), [4], [1])
    with pytest.raises(RuntimeError, match="ctc_loss: second derivatives"):
        autograd.grad(loss, [x], create_graph=True)


def test_inputs_are_not_mutated():
    rng = np.random.default_rng(7)
    lp = np.log(rng.dirichlet(np.ones(4), (5, 2)))
    targets, il, tl = np.array([[1, 2], [3, 0]]), np.array([5, 4]), np.array([2, 1])
    copies = [a.copy() for a in (lp, targets, il, tl)]
    x = tg.tensor(lp, requires_grad=True)
    F.ctc_loss(x, targets, il, tl).backward()
    for a, b in zip((lp, targets, il, tl), copies):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------ bad input

def _good():
    return tg.tensor(np.log(np.full((5, 2, 4), 0.25))), np.array([[1, 2], [3, 0]]), [5, 4], [2, 1]


@pytest.mark.parametrize("change,exc,pattern", [
    (dict(log_probs=np.zeros((5, 2, 4), np.int64)), TypeError, "log_probs must be float32 or float64, got int64"),
    (dict(log_probs=tg.zeros(5, 2, 4, 1)), ValueError, r"log_probs must be \(T, N, C\).*\(5, 2, 4, 1\)"),
    (dict(targets=np.array([[1.0, 2.0], [3.0, 0.0]])), TypeError, "targets must hold integers, got dtype float64"),
    (dict(targets=np.array([[1, 2], [3, 0], [1, 1]])), ValueError, r"targets must have shape \(2, S\).*\(3, 2\)"),
    (dict(targets=np.ones((2, 2, 1), np.int64)), ValueError, r"padded or 1-D concatenated, got shape \(2, 2, 1\)"),
    (dict(targets=np.array([[1, 0], [3, 0]])), ValueError, "must not hold the blank index 0"),
    (dict(targets=np.array([[1, 4], [3, 0]])), ValueError, r"class indices in \[0, 4\), got 4"),
    (dict(targets=np.array([1, 2, 3, 3])), ValueError, "sum\\(target_lengths\\) = 3 entries, got 4"),
    (dict(input_lengths=[5, 6]), ValueError, "input_lengths must be at most T = 5, got 6"),
    (dict(input_lengths=[5, -1]), ValueError, "input_lengths must be non-negative, got -1"),
    (dict(input_lengths=[5, 4, 3]), ValueError, r"input_lengths must have shape \(2,\), got \(3,\)"),
    (dict(input_lengths=[5.0, 4.0]), TypeError, "input_lengths must hold integers, got dtype float64"),
    (dict(target_lengths=[3, 1]), ValueError, "target_lengths must be at most the targets' length 2, got 3"),
    (dict(target_lengths=[2]), ValueError, r"target_lengths must have shape \(2,\), got \(1,\)"),
    (dict(blank=4), ValueError, r"blank must be an int in \[0, 4\), got 4"),
    (dict(reduction="avg"), ValueError, "reduction must be one of"),
])
def test_bad_input(change, exc, pattern):
    log_probs, targets, input_lengths, target_lengths = _good()
    args = dict(log_probs=log_probs, targets=targets, input_lengths=input_lengths, target_lengths=target_lengths)
    args.update(change)
    with pytest.raises(exc, match=pattern):
        F.ctc_loss(**args)
