"""Sequence metrics: edit distance, error rates (label, phoneme and word error rate) and corpus BLEU."""
import collections
import math

import numpy as np


def edit_distance(a, b):
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning a into b."""
    row = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        for j, y in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y))
    return int(row[-1])


def error_rates(references, hypotheses):
    """(token error rate, sequence error rate): Σ edit distance / Σ reference length, and the share
    of sequences that are not exactly right (for G2P: phoneme and word error rate)."""
    refs, hyps = [list(r) for r in references], [list(h) for h in hypotheses]
    if len(refs) != len(hyps) or not refs:
        raise ValueError(f"error_rates: expected as many hypotheses as references (at least one), "
                         f"got {len(hyps)} and {len(refs)}")
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    return errors / sum(len(r) for r in refs), float(np.mean([r != h for r, h in zip(refs, hyps)]))


def _ngrams(seq, n):
    return collections.Counter(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def bleu(references, hypotheses, max_n=4):
    """Corpus BLEU (Papineni et al. 2002): the geometric mean of clipped n-gram precisions for
    n = 1..max_n, summed over the corpus, times the brevity penalty min(1, exp(1 - r / c)).

    references: one list of reference token lists per hypothesis; hypotheses: token lists.
    """
    if len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(f"bleu: expected one list of references per hypothesis (at least one), "
                         f"got {len(references)} and {len(hypotheses)}")
    matched, total = np.zeros(max_n), np.zeros(max_n)
    ref_length = hyp_length = 0
    for refs, hyp in zip(references, hypotheses):
        hyp_length += len(hyp)
        ref_length += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]  # the closest length
        for n in range(1, max_n + 1):
            counts, best = _ngrams(hyp, n), collections.Counter()
            for r in refs:
                best |= _ngrams(r, n)
            matched[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_length == 0 or (matched == 0).any():
        return 0.0
    log_precision = np.mean(np.log(matched / total))
    brevity = min(0.0, 1.0 - ref_length / hyp_length)
    return float(math.exp(log_precision + brevity))


def label_error_rate(hypotheses, references):
    """Σ edit_distance(hypothesis, reference) / Σ len(reference) over a corpus (Graves et al. 2006)."""
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"label_error_rate: {len(hypotheses)} hypotheses for {len(references)} references")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("label_error_rate: the references hold no labels, so the rate is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hypotheses, references)) / total
