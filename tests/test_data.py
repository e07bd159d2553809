"""Tests for tinygrad_rnn.data: corpus, vocabulary, TBPTT batching and the sequence tasks."""
import ast
import json
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn.data import (ADDING_BASELINE_MSE, CharVocab, TBPTTBatcher, adding_problem,
                               copy_memory, copy_memory_baseline, forecasting_windows, hello_example,
                               load_text, mackey_glass, noisy_sine, timer_task, train_val_split)

DATA_DIR = pathlib.Path(__file__).resolve().parents[1] / "tinygrad_rnn" / "data"


def test_data_package_imports_only_itself_numpy_and_stdlib():
    for path in DATA_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), path
                assert node.level == 1 or not node.module.startswith("tinygrad_rnn"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("tinygrad_rnn") for a in node.names), path


# ---------------------------------------------------------------- corpus

def test_builtin_corpus_is_large_mostly_ascii_english():
    text = load_text()
    assert len(text.encode("utf-8")) > 100_000
    assert sum(c.isascii() for c in text) / len(text) > 0.99
    assert text.count(" the ") > 1000
    assert load_text() == text


def test_load_text_from_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffhéllo\r\nwörld".encode("utf-8"))
    assert load_text(path) == "héllo\r\nwörld"
    assert load_text(str(path)) == "héllo\r\nwörld"


def test_load_text_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(OSError, match="missing.txt"):
        load_text(missing)
    with pytest.raises(OSError):
        load_text(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt.*empty"):
        load_text(empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt.*UTF-8"):
        load_text(latin1)


# ---------------------------------------------------------------- vocabulary

@given(st.text(min_size=1))
def test_vocab_round_trip(text):
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert list(vocab.itos) == sorted(set(text))
    assert len(vocab) == vocab.size == len(set(text))
    assert all(vocab.stoi[c] == i for i, c in enumerate(vocab.itos))
    restored = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert np.array_equal(restored.encode(text), ids)


def test_vocab_on_corpus_round_trips():
    text = load_text()
    vocab = CharVocab(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert CharVocab(text) == vocab


def test_vocab_unknown_character_and_bad_ids():
    vocab = CharVocab("abc")
    with pytest.raises(ValueError, match="'z' at position 2"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"\[0, 3\).*got 3"):
        vocab.decode([0, 3])
    with pytest.raises(TypeError):
        vocab.decode([0.5])
    assert vocab.decode(np.array([[0], [2]])) == "ac"
    assert vocab.encode("").shape == (0,)
    with pytest.raises(TypeError):
        vocab.stoi["d"] = 3


def test_vocab_from_chars_keeps_order_and_rejects_bad_data():
    vocab = CharVocab.from_chars("helo")
    assert vocab.itos == ("h", "e", "l", "o")
    assert vocab.encode("hello").tolist() == [0, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="repeated"):
        CharVocab.from_chars("hello")
    with pytest.raises(ValueError, match="non-empty"):
        CharVocab("")
    with pytest.raises(ValueError, match="chars"):
        CharVocab.from_dict({"itos": "abc"})


def test_train_val_split():
    ids = np.arange(100)
    train, val = train_val_split(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = train_val_split(ids, 0.0)
    assert len(train) == 100 and len(val) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(ids, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        train_val_split(ids.reshape(10, 10))


# ---------------------------------------------------------------- TBPTT batching

@settings(deadline=None)
@given(n=st.integers(0, 300), batch_size=st.integers(1, 12), seq_len=st.integers(1, 40))
def test_batcher_streams_are_contiguous(n, batch_size, seq_len):
    ids = np.arange(n) * 7 + 3
    stream_len = max(n - 1, 0) // batch_size
    if seq_len > stream_len:
        with pytest.raises(ValueError, match="seq_len"):
            TBPTTBatcher(ids, batch_size, seq_len)
        return
    batcher = TBPTTBatcher(ids, batch_size, seq_len)
    chunks = list(batcher)
    assert len(chunks) == len(batcher) == stream_len // seq_len
    positions = []
    for x, y in chunks:
        assert x.shape == y.shape == (seq_len, batch_size)
        assert x.dtype == y.dtype == np.int64
        assert np.array_equal(y, x + 7)
        positions.append((x - 3) // 7)
    pos = np.concatenate(positions)
    assert np.array_equal(pos[0], np.arange(batch_size) * stream_len)
    assert np.all(np.diff(pos, axis=0) == 1)


def test_batcher_on_text_continues_across_chunks():
    text = load_text()[:5000]
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    batcher = TBPTTBatcher(ids, batch_size=4, seq_len=25)
    (x0, y0), (x1, _) = batcher[0], batcher[1]
    stream_len = (len(ids) - 1) // 4
    for b in range(4):
        start = b * stream_len
        assert vocab.decode(x0[:, b]) + vocab.decode(x1[:, b]) == text[start:start + 50]
        assert vocab.decode(y0[:, b]) == text[start + 1:start + 26]


def test_batcher_cycles_and_returns_copies():
    batcher = TBPTTBatcher(np.arange(101), batch_size=2, seq_len=10)
    assert len(batcher) == 5
    items = list(batcher.batches(11))
    assert len(items) == 11
    assert np.array_equal(items[5][0], items[0][0]) and np.array_equal(items[10][1], items[0][1])
    endless = batcher.batches()
    assert all(next(endless)[0].shape == (10, 2) for _ in range(17))
    items[0][0][:] = -1
    assert batcher[0][0].min() >= 0
    with pytest.raises(IndexError):
        batcher[5]


def test_batcher_errors_name_the_argument():
    ids = np.arange(50)
    with pytest.raises(ValueError, match="batch_size >= 1, got 0"):
        TBPTTBatcher(ids, 0, 5)
    with pytest.raises(ValueError, match="seq_len >= 1, got 0"):
        TBPTTBatcher(ids, 2, 0)
    with pytest.raises(ValueError, match="seq_len <= stream length 24.*got seq_len=25"):
        TBPTTBatcher(ids, 2, 25)
    with pytest.raises(TypeError, match="integer ids"):
        TBPTTBatcher(np.linspace(0, 1, 50), 2, 5)
    with pytest.raises(ValueError, match="1-D"):
        TBPTTBatcher(ids.reshape(5, 10), 2, 5)
    with pytest.raises(ValueError, match="steps"):
        TBPTTBatcher(ids, 2, 5).batches(-1)


# ---------------------------------------------------------------- adding problem

def test_adding_problem_semantics():
    x, y = adding_problem(64, 30, rng=0)
    assert x.shape == (30, 64, 2) and y.shape == (64, 1)
    assert x.dtype == y.dtype == np.float32
    values, marker = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all(marker.sum(axis=0) == 2) and set(np.unique(marker)) == {0, 1}
    assert np.all(marker[:15].sum(axis=0) == 1) and np.all(marker[15:].sum(axis=0) == 1)
    assert np.array_equal(y[:, 0], (values * marker).sum(axis=0))
    x64, y64 = adding_problem(64, 30, rng=0, dtype=np.float64)
    assert x64.dtype == np.float64 and np.allclose(x64, x, atol=1e-7) and np.allclose(y64, y, atol=1e-6)


def test_adding_problem_seeds_and_errors():
    a, b = adding_problem(8, 10, rng=3), adding_problem(8, 10, rng=np.random.default_rng(3))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], adding_problem(8, 10, rng=4)[0])
    assert adding_problem(1, 2, rng=0)[0][:, 0, 1].tolist() == [1, 1]
    with pytest.raises(ValueError, match="T >= 2, got 1"):
        adding_problem(4, 1)
    with pytest.raises(ValueError, match="batch >= 1, got 0"):
        adding_problem(0, 10)


def test_adding_baseline_matches_empirical_mse():
    _, y = adding_problem(200_000, 2, rng=1, dtype=np.float64)
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(ADDING_BASELINE_MSE, rel=0.02)


# ---------------------------------------------------------------- copy memory

def test_copy_memory_semantics():
    n_symbols, length, delay = 5, 4, 7
    x, y = copy_memory(32, n_symbols, length, delay, rng=0)
    total = 2 * length + delay + 1
    assert x.shape == (total, 32, n_symbols + 2) and y.shape == (total, 32)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.all(x.sum(axis=-1) == 1)
    ids = x.argmax(axis=-1)
    symbols = ids[:length]
    assert np.all((symbols >= 1) & (symbols <= n_symbols))
    assert np.all(ids[length:length + delay] == 0)
    assert np.all(ids[length + delay] == n_symbols + 1)
    assert np.all(ids[length + delay + 1:] == 0)
    assert np.array_equal(y[length + delay + 1:], symbols)
    assert np.all(y[:length + delay + 1] == 0)
    assert np.array_equal(copy_memory(32, n_symbols, length, delay, rng=0)[1], y)


def test_copy_memory_baseline_matches_empirical_memoryless_entropy():
    n_symbols, length, delay = 8, 10, 5
    _, y = copy_memory(20_000, n_symbols, length, delay, rng=2)
    counts = np.stack([np.bincount(row, minlength=n_symbols + 2) for row in y])
    p = counts / counts.sum(axis=1, keepdims=True)
    entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1).mean()
    assert entropy == pytest.approx(copy_memory_baseline(n_symbols, length, delay), rel=0.01)
    assert copy_memory_baseline(8, 10, 99) == pytest.approx(10 * math.log(8) / 120)


def test_copy_memory_errors():
    with pytest.raises(ValueError, match="batch >= 1, got 0"):
        copy_memory(0)
    with pytest.raises(ValueError, match="length >= 1, got 0"):
        copy_memory(2, length=0)
    with pytest.raises(ValueError, match="delay >= 0, got -1"):
        copy_memory(2, delay=-1)


# ---------------------------------------------------------------- timer

def test_timer_target_is_half_for_exactly_duration_steps_after_each_trigger():
    T, max_duration = 120, 20
    x, y = timer_task(50, T, rng=0, min_duration=5, max_duration=max_duration, max_gap=15)
    assert x.shape == (T, 50, 2) and y.shape == (T, 50, 1) and x.dtype == y.dtype == np.float32
    for b in range(50):
        triggers = np.flatnonzero(x[:, b, 0])
        assert len(triggers) >= 1 and set(np.unique(x[:, b, 0])) <= {0, 1}
        assert np.all(x[x[:, b, 0] == 0, b, 1] == 0)
        expected = np.zeros(T, dtype=np.float32)
        for s in triggers:
            d = round(float(x[s, b, 1]) * max_duration)
            assert 5 <= d <= 20 and s + d < T
            assert np.all(expected[s:s + d + 1] == 0)
            expected[s + 1:s + d + 1] = 0.5
        assert np.array_equal(y[:, b, 0], expected)


def test_timer_seeds_and_errors():
    assert np.array_equal(timer_task(4, 40, rng=5)[1], timer_task(4, 40, rng=5)[1])
    x, y = timer_task(4, 21, rng=0)
    assert np.all(x[:, :, 0].sum(axis=0) >= 1)
    with pytest.raises(ValueError, match="T >= 21, got 20"):
        timer_task(4, 20)
    with pytest.raises(ValueError, match="max_duration >= 5, got 3"):
        timer_task(4, 50, max_duration=3)
    with pytest.raises(ValueError, match="batch >= 1, got 0"):
        timer_task(0, 50)


# ---------------------------------------------------------------- Mackey-Glass and forecasting

def test_mackey_glass_bounded_varied_and_chaotic():
    a = mackey_glass(3000)
    assert a.shape == (3000,) and a.dtype == np.float64
    assert np.all(np.isfinite(a)) and 0.2 < a.min() and a.max() < 1.5
    assert a.std() > 0.1
    b = mackey_glass(3000, x0=1.2 + 1e-6)
    diff = np.abs(a - b)
    assert diff[:250].max() < 1e-3
    assert diff[-1000:].max() > 0.1
    assert np.array_equal(mackey_glass(3000), a)


def test_mackey_glass_discard_drops_the_start_and_errors():
    assert np.array_equal(mackey_glass(100, discard=50), mackey_glass(150, discard=0)[50:])
    assert mackey_glass(1, discard=0)[0] == 1.2
    with pytest.raises(ValueError, match="n >= 1, got 0"):
        mackey_glass(0)
    with pytest.raises(ValueError, match="tau > 0, got 0"):
        mackey_glass(10, tau=0)


def test_forecasting_windows():
    series = np.arange(20.0)
    x, y = forecasting_windows(series, T=5, horizon=2, stride=3)
    assert x.shape == y.shape == (5, 5, 1)
    for i in range(5):
        assert np.array_equal(x[:, i, 0], series[3 * i:3 * i + 5])
        assert np.array_equal(y[:, i, 0], series[3 * i + 2:3 * i + 7])
    x, y = forecasting_windows(series, T=19)
    assert x.shape == (19, 1, 1) and y[-1, 0, 0] == 19
    with pytest.raises(ValueError, match="at least T \\+ horizon = 22 values, got 20"):
        forecasting_windows(series, T=20, horizon=2)
    with pytest.raises(ValueError, match="horizon >= 1, got 0"):
        forecasting_windows(series, T=5, horizon=0)


def test_persistence_beats_the_mean_on_mackey_glass():
    x, y = forecasting_windows(mackey_glass(1000), T=50, stride=10)
    assert ((y - x) ** 2).mean() < 0.1 * y.var()


# ---------------------------------------------------------------- noisy sine and hello

def test_noisy_sine():
    x, y = noisy_sine(4000, 30, rng=0, noise=0.1)
    assert x.shape == y.shape == (30, 4000, 1) and x.dtype == y.dtype == np.float32
    assert np.abs(y).max() <= 1
    assert np.std(x[1:] - y[:-1]) == pytest.approx(0.1, rel=0.02)
    assert np.mean(y ** 2) == pytest.approx(0.5, abs=0.02)
    x0, y0 = noisy_sine(3, 10, rng=1, noise=0.0, dtype=np.float64)
    assert np.array_equal(x0[1:], y0[:-1])
    assert np.array_equal(noisy_sine(3, 10, rng=1)[0], noisy_sine(3, 10, rng=1)[0])
    with pytest.raises(ValueError, match="noise >= 0"):
        noisy_sine(3, 10, noise=-1)
    with pytest.raises(ValueError, match="batch >= 1, got 0"):
        noisy_sine(0, 10)


def test_hello_example():
    vocab, x, y = hello_example()
    assert vocab.itos == ("h", "e", "l", "o")
    assert x.shape == (4, 1, 4) and x.dtype == np.float32
    assert y.shape == (4, 1) and y.dtype == np.int64
    assert vocab.decode(x.argmax(axis=-1)) == "hell"
    assert vocab.decode(y) == "ello"
