"""The committed spoken-digit features (data/spoken_digits.npz, made by scripts/make_spoken_digits.py):
readable without pickle, consistent, small, and long enough for CTC; and the script's filterbank."""
import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "spoken_digits.npz"


def load_script():
    spec = importlib.util.spec_from_file_location("make_spoken_digits", ROOT / "scripts" / "make_spoken_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_is_consistent_and_small():
    assert DATA.stat().st_size < 5 * 2**20
    d = np.load(DATA, allow_pickle=False)
    frames, labels = d["frame_offsets"], d["label_offsets"]
    n = len(d["voice"])
    assert len(frames) == len(labels) == n + 1 and frames[0] == labels[0] == 0
    assert frames[-1] == len(d["features"]) and labels[-1] == len(d["labels"])
    assert d["features"].dtype == np.uint8 and d["features"].shape[1] == int(d["n_mels"])
    assert set(np.unique(d["labels"])) <= set(range(10))
    assert set(np.unique(d["voice"])) == set(range(len(d["voice_names"])))
    n_digits, n_frames = np.diff(labels), np.diff(frames)
    assert n_digits.min() >= 3 and n_digits.max() <= 6
    assert np.all(n_frames // 2 >= 2 * n_digits)  # after stacking frame pairs, room for a blank between any two digits
    for key in ("speed", "pitch", "word_gap", "snr_db"):
        assert len(d[key]) == n


def test_mel_filterbank_is_a_partition_of_the_band():
    m = load_script()
    filters = m.mel_filterbank()
    assert filters.shape == (m.N_MELS, m.N_FFT // 2 + 1) and filters.min() >= 0 and filters.max() <= 1
    centres = filters.argmax(axis=1)
    assert np.all(np.diff(centres) > 0)  # ordered by frequency, wider towards the top
    inner = filters.sum(axis=0)[centres[0]:centres[-1]]
    # neighbouring triangles sum to 1 between their centres (up to sampling at the FFT bins, which are
    # coarse next to the narrow lowest filters)
    assert inner.max() <= 1 + 1e-9 and inner.min() > 0.9
    np.testing.assert_allclose(filters.sum(axis=0)[centres[5]:centres[-1]], 1, atol=1e-9)


def test_log_mel_frames_and_quantisation():
    m = load_script()
    signal = np.sin(2 * np.pi * 440 * np.arange(m.SAMPLE_RATE) / m.SAMPLE_RATE)  # one second of A4
    db = m.log_mel(signal, m.mel_filterbank())
    assert db.shape == (1 + (m.SAMPLE_RATE - m.WINDOW) // m.HOP, m.N_MELS)
    assert np.all(db.argmax(axis=1) == db[0].argmax())  # a steady tone lights one band
    q = m.quantise(np.array([m.DB_FLOOR - 5, m.DB_FLOOR, m.DB_FLOOR + m.DB_RANGE, 1e3]))
    np.testing.assert_array_equal(q, [0, 0, 255, 255])
