"""edit_distance, error_rates and corpus BLEU on cases worked out by hand, and edit distance against
a memoised recursive definition."""
import functools
import math

import numpy as np
import pytest

from tinygrad_rnn.metrics import bleu, edit_distance, error_rates


def recursive_distance(a, b):
    @functools.lru_cache(maxsize=None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3 and edit_distance("", "") == 0
    assert edit_distance(["TH", "AO", "T"], ["TH", "AO", "T"]) == 0
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = (tuple(rng.integers(0, 3, rng.integers(0, 7))) for _ in range(2))
        assert edit_distance(a, b) == recursive_distance(a, b) == edit_distance(b, a)


def test_error_rates():
    per, wer = error_rates([("K", "AE", "T"), ("D", "AO", "G")], [("K", "AE", "T"), ("D", "AA", "G", "Z")])
    assert per == pytest.approx(2 / 6) and wer == 0.5
    with pytest.raises(ValueError, match="as many hypotheses as references"):
        error_rates([("A",)], [])


def test_bleu_by_hand():
    assert bleu([["a b c d e".split()]], ["a b c d e".split()]) == pytest.approx(1.0)
    # all n-grams right but two words short: only the brevity penalty exp(1 - r/c) remains
    assert bleu([["a b c d e f".split()]], ["a b c d".split()]) == pytest.approx(math.exp(1 - 6 / 4))
    # clipping: "the" counts at most as often as in the reference (1/4), no brevity penalty (c > r)
    assert bleu([["the cat".split()]], ["the the the the".split()], max_n=1) == pytest.approx(0.25)
    # corpus level: n-gram counts summed over sentences before dividing; the closest reference length
    refs = [["a b c".split(), "a b c d e".split()], ["x y".split()]]
    hyps = ["a b c x".split(), "x y".split()]
    p = [(3 + 2) / (4 + 2), (2 + 1) / (3 + 1)]  # unigram, bigram precisions; r = 3 + 2 (|3-4| < |5-4| tie -> 3)
    assert bleu(refs, hyps, max_n=2) == pytest.approx(math.exp(np.mean(np.log(p))))
    assert bleu([["a b".split()]], ["c d".split()]) == 0.0
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        bleu([["a"]], [])
