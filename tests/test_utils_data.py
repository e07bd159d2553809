"""torch.utils.data's counterparts (utils/data.py): datasets, splits, collation and the loader's
batches, against PyTorch when it is installed (same data, no shuffling), and shuffling's own rules."""
import collections
from collections import namedtuple

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.utils import data

from optional_torch import needs_torch, torch

tdata = None if torch is None else torch.utils.data
Pair = namedtuple("Pair", ["x", "y"])


class Squares:
    """A map-style dataset of mixed samples (a dict, a tuple, numbers and an array)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"i": i, "x": float(i) ** 2, "v": np.array([i, -i], dtype=np.float32), "pair": (i, [i * 2, True])}


def _plain(value):
    if hasattr(value, "numpy") and not isinstance(value, np.generic):
        return ("tensor", value.numpy().tolist(), str(value.dtype).replace("torch.", ""))
    if isinstance(value, dict):
        return [type(value).__name__, {k: _plain(v) for k, v in value.items()}]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__ if not hasattr(value, "_fields") else "Pair"] + [_plain(v) for v in value]
    return value


def _loader_cases(L, d):
    x = L.arange(20.0).reshape(10, 2)
    y = L.arange(10)
    pairs = d.TensorDataset(x, y)
    return {
        "batches": d.DataLoader(pairs, batch_size=3),
        "drop_last": d.DataLoader(pairs, batch_size=4, drop_last=True),
        "subset": d.DataLoader(d.Subset(pairs, [7, 2, 2, 9]), batch_size=2),
        "concat": d.DataLoader(d.ConcatDataset([pairs, d.Subset(pairs, [0, 1])]), batch_size=5),
        "mixed_samples": d.DataLoader(Squares(5), batch_size=2),
        "namedtuples": d.DataLoader([Pair(1, 2.5), Pair(3, 4.5)], batch_size=2),
        "sampler": d.DataLoader(pairs, batch_size=2, sampler=[9, 0, 4]),
        "batch_sampler": d.DataLoader(pairs, batch_sampler=[[1, 2], [5], [0, 9, 3]]),
        "no_batching": d.DataLoader(Squares(2), batch_size=None),
        "collate_fn": d.DataLoader(pairs, batch_size=4, collate_fn=lambda b: len(b)),
        "mixed_numbers": d.DataLoader([1, 2.5, True, 0], batch_size=2),
        "ordered_dicts": d.DataLoader([collections.OrderedDict(b=1, a=2.0)] * 3, batch_size=2),
        "numpy_scalars_unbatched": d.DataLoader([np.float32(1.5), np.int64(3)], batch_size=None),
        "namedtuple_of_arrays_unbatched": d.DataLoader([Pair(np.ones(2), 1)], batch_size=None),
        "sequential_batch_sampler": d.DataLoader(
            pairs, batch_sampler=d.BatchSampler(d.SequentialSampler(range(7)), 3, drop_last=True)),
    }


@needs_torch
@pytest.mark.parametrize("name", sorted(_loader_cases(tg, data)))
def test_loader_batches_match_torch(name):
    ours, theirs = _loader_cases(tg, data)[name], _loader_cases(torch, tdata)[name]
    assert len(ours) == len(theirs)
    assert [_plain(b) for b in ours] == [_plain(b) for b in theirs]


def test_shuffling_is_a_fresh_permutation_each_epoch_fixed_by_the_seed():
    loader = data.DataLoader(data.TensorDataset(tg.arange(10)), batch_size=4, shuffle=True)
    tg.manual_seed(3)
    first = [[int(v) for v in b[0]] for b in loader]
    second = [[int(v) for v in b[0]] for b in loader]
    tg.manual_seed(3)
    again = [[int(v) for v in b[0]] for b in loader]
    assert sorted(sum(first, [])) == list(range(10)) and [len(b) for b in first] == [4, 4, 2]
    assert first != second and first == again
    fixed = [data.DataLoader(range(6), batch_size=6, shuffle=True, generator=np.random.default_rng(1))
             for _ in range(2)]
    assert [b.tolist() for b in fixed[0]] == [b.tolist() for b in fixed[1]]


@needs_torch
@pytest.mark.parametrize("lengths", [[3, 7], [0.5, 0.5], [0.3, 0.3, 0.4], [0.33, 0.33, 0.34], [10]])
def test_random_split_sizes_match_torch(lengths):
    ours = data.random_split(range(10), lengths, generator=np.random.default_rng(0))
    theirs = tdata.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(10))


@pytest.mark.parametrize("call, error, words", [
    (lambda: data.DataLoader(range(3), batch_size=0), ValueError, "positive integer"),
    (lambda: data.DataLoader(range(3), shuffle=True, sampler=[0]), ValueError, "mutually exclusive"),
    (lambda: data.DataLoader(range(3), batch_size=2, batch_sampler=[[0]]), ValueError, "mutually exclusive"),
    (lambda: data.random_split(range(5), [2, 2]), ValueError, "does not equal"),
    (lambda: data.TensorDataset(tg.ones(2), tg.ones(3)), ValueError, "first dim"),
    (lambda: data.ConcatDataset([]), ValueError, "empty"),
    (lambda: list(data.DataLoader([object()], batch_size=1)), TypeError, "default_collate"),
])
def test_bad_arguments_raise_clear_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_samplers_draw_as_documented():
    rng = np.random.default_rng(0)
    assert list(data.SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert sorted(data.RandomSampler(range(5), generator=rng)) == [0, 1, 2, 3, 4]
    drawn = list(data.RandomSampler(range(3), num_samples=7, generator=rng))
    assert len(drawn) == 7 and sorted(drawn[:6]) == [0, 0, 1, 1, 2, 2]
    assert set(data.RandomSampler(range(3), replacement=True, num_samples=50, generator=rng)) <= {0, 1, 2}
    assert sorted(data.SubsetRandomSampler([5, 7, 9], generator=rng)) == [5, 7, 9]
    weighted = list(data.WeightedRandomSampler([0.0, 1.0, 3.0], 400, generator=rng))
    assert 0 not in weighted and 0.65 < weighted.count(2) / 400 < 0.85
    assert list(data.BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert len(data.BatchSampler(range(5), 2, drop_last=True)) == 2
    loader = data.DataLoader(range(6), batch_size=4, shuffle=True)
    assert isinstance(loader.sampler, data.RandomSampler) and isinstance(loader.batch_sampler, data.BatchSampler)
    with pytest.raises(ValueError, match="non-zero weights"):
        data.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="drop_last"):
        data.DataLoader(range(3), batch_size=None, drop_last=True)
