"""Greedy and prefix beam-search decoding on hand-made tables with known answers and on tables small
enough to enumerate every labelling; edit distance and label error rate; bad input."""
import itertools
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tg


def labelling_probabilities(probs, blank):
    """{labelling: probability} by summing every path of the (T, C) table."""
    out = defaultdict(float)
    T, C = probs.shape
    for path in itertools.product(range(C), repeat=T):
        labels = tuple(k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1]))
        out[labels] += np.prod(probs[np.arange(T), path])
    return out


def test_greedy_collapses_repeats_and_drops_blanks():
    # frame argmaxes: a a - a b b - (blank 0, a 1, b 2) -> a a b
    path = [1, 1, 0, 1, 2, 2, 0]
    table = np.log(np.full((7, 3), 0.1) + 0.7 * np.eye(3)[path])
    assert tg.ctc_greedy_decode(table) == [1, 1, 2]
    assert tg.ctc_greedy_decode(table[:, None, :]) == [[1, 1, 2]]
    assert tg.ctc_greedy_decode(tg.tensor(table[:, None, :]), input_lengths=[3]) == [[1]]
    assert tg.ctc_greedy_decode(table, blank=1) == [0, 2, 0]


def test_beam_search_beats_best_path():
    # every frame: blank 0.6, a 0.4. Best path "- -" (0.36) reads as the empty labelling, but "a" has
    # paths aa, a-, -a: 0.16 + 0.24 + 0.24 = 0.64.
    table = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert tg.ctc_greedy_decode(table) == []
    assert tg.ctc_beam_search_decode(table, beam_width=2) == [1]
    assert tg.ctc_beam_search_decode(table, beam_width=1) == []  # a beam of one keeps "" after frame 1


def test_beam_search_separates_a_repeated_label_only_across_a_blank():
    path = [1, 0, 1, 1]
    table = np.log(np.full((4, 2), 0.05) + 0.9 * np.eye(2)[path])
    assert tg.ctc_beam_search_decode(table, beam_width=4) == [1, 1]


def test_length_normalization_prefers_the_longer_labelling():
    # p(a) = .9·.3 + .9·.25 + .1·.25 = .52 beats p(ab) = .9·.45 = .405, but per label
    # log(.405) / 2 = -0.45 beats log(.52) / 1 = -0.65.
    table = np.log(np.array([[0.1, 0.9, 1e-12], [0.3, 0.25, 0.45]]))
    probs = labelling_probabilities(np.exp(table), 0)
    assert probs[(1,)] == pytest.approx(0.52) and probs[(1, 2)] == pytest.approx(0.405)
    assert tg.ctc_beam_search_decode(table, beam_width=8) == [1]
    assert tg.ctc_beam_search_decode(table, beam_width=8, length_normalization=True) == [1, 2]


@given(st.integers(1, 4), st.integers(2, 3), st.integers(0, 2), st.integers(0, 2**16))
def test_wide_beam_finds_the_most_probable_labelling(T, C, blank, seed):
    blank = blank % C
    probs = np.random.default_rng(seed).dirichlet(np.full(C, 0.7), T)
    exact = labelling_probabilities(probs, blank)
    best = max(exact.values())
    beam = tuple(tg.ctc_beam_search_decode(np.log(probs), beam_width=len(exact), blank=blank))
    greedy = tuple(tg.ctc_greedy_decode(np.log(probs), blank=blank))
    assert exact[beam] == pytest.approx(best, rel=1e-12)
    assert exact[beam] >= exact[greedy] * (1 - 1e-12)


def test_batched_beam_search_with_lengths():
    table = np.log(np.array([[[0.1, 0.9, 0.0 + 1e-9], [0.1, 0.1, 0.8]], [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]],
                             [[0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]]))
    assert tg.ctc_beam_search_decode(table, beam_width=5, input_lengths=[3, 1]) == [[1, 2], [2]]
    assert tg.ctc_greedy_decode(table, input_lengths=np.array([3, 0])) == [[1, 2], []]


def test_edit_distance_and_label_error_rate():
    assert tg.edit_distance("kitten", "sitting") == 3
    assert tg.edit_distance([], [1, 2]) == 2 and tg.edit_distance([1, 2], []) == 2
    assert tg.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert tg.label_error_rate([[1, 2], [3]], [[1, 2, 2], [3]]) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        tg.label_error_rate([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="no labels"):
        tg.label_error_rate([[1]], [[]])


greedy, beam = tg.ctc_greedy_decode, tg.ctc_beam_search_decode


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: greedy(np.zeros((3, 2, 4, 1))), ValueError, r"\(T, N, C\) or \(T, C\), got shape \(3, 2, 4, 1\)"),
    (lambda: greedy(np.zeros((3, 4), np.int64)), TypeError, "floating point, got dtype int64"),
    (lambda: greedy(np.zeros((3, 4)), blank=4), ValueError, r"blank must be an int in \[0, 4\)"),
    (lambda: greedy(np.zeros((3, 2, 4)), input_lengths=[3]), ValueError, "input_lengths must be 2 integers"),
    (lambda: greedy(np.zeros((3, 2, 4)), input_lengths=[3, 4]), ValueError, r"input_lengths must lie in \[0, 3\]"),
    (lambda: beam(np.zeros((3, 4)), beam_width=0), ValueError, "beam_width must be an int >= 1, got 0"),
])
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
