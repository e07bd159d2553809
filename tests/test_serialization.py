"""Tests for tinygrad_rnn.serialization: round trips, atomic writes, and refusing bad files."""
import json
import os
import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, serialization
from tinygrad_rnn.serialization import load, save

UNPICKLED = []


def _record(tag):
    UNPICKLED.append(tag)
    return tag


class Bomb:
    """Unpickling this would call _record: proof that load never unpickles."""

    def __reduce__(self):
        return _record, ("unpickled!",)


def manifest(root):
    doc = {"format": serialization.FORMAT, "version": serialization.VERSION, "root": root}
    return np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)


def test_nested_round_trip_keeps_structure_types_and_dtypes(tmp_path):
    obj = {
        "f32": tg.randn(2, 3),
        "f64": tg.tensor(np.arange(4.0)).reshape(2, 2),
        "ints": np.arange(5, dtype=np.int32),
        "mask": np.array([True, False]),
        "bytes": np.arange(3, dtype=np.uint8),
        "scalar_array": np.array(2.5),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
        "nested": {"deeper": {"w": tg.ones(1)}, "list": [1, 2.5, "three", None, True, [tg.zeros(2)]]},
        "tuple": (0.9, 0.999),
        7: "int key",
        "numbers": {"int": 3, "float": 0.1, "nan": float("nan"), "inf": -float("inf"), "np": np.int64(4)},
    }
    path = tmp_path / "ck.npz"
    save(obj, path)
    back = load(path)
    assert list(back) == list(obj)
    for key in ("f32", "f64", "ints", "mask", "bytes", "scalar_array", "empty", "strided"):
        arr = obj[key]._data if isinstance(obj[key], tg.Tensor) else obj[key]
        assert isinstance(back[key], tg.Tensor) and not back[key].requires_grad
        assert back[key].dtype == arr.dtype and back[key].shape == arr.shape
        np.testing.assert_array_equal(back[key]._data, arr)
    assert back["nested"]["list"][:5] == [1, 2.5, "three", None, True]
    assert isinstance(back["nested"]["list"][5][0], tg.Tensor)
    np.testing.assert_array_equal(back["nested"]["deeper"]["w"]._data, [1.0])
    assert back["tuple"] == (0.9, 0.999) and back[7] == "int key"
    numbers = back["numbers"]
    assert numbers["int"] == 3 and type(numbers["int"]) is int and numbers["float"] == 0.1
    assert np.isnan(numbers["nan"]) and numbers["inf"] == -float("inf") and numbers["np"] == 4


def test_keys_that_collide_after_flattening_stay_distinct(tmp_path):
    obj = {"a/b": np.zeros(1), "a": {"b": np.ones(1)}, "__manifest__": np.full(1, 2.0), "file": np.full(1, 3.0),
           1: np.full(1, 4.0), "1": np.full(1, 5.0)}
    save(obj, tmp_path / "ck")
    back = load(tmp_path / "ck")
    assert back["a/b"].item() == 0 and back["a"]["b"].item() == 1 and back["__manifest__"].item() == 2
    assert back["file"].item() == 3 and back[1].item() == 4 and back["1"].item() == 5


def test_model_and_optimizer_like_state(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3, padding_idx=0), nn.Linear(3, 4), nn.LayerNorm(4))
    ckpt = {
        "model": model.state_dict(),
        "optimizer": {"state": {0: {"step": 10, "exp_avg": tg.randn(5, 3)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1, 2]}]},
        "epoch": 3, "val_loss": 1.25, "note": "best",
    }
    path = tmp_path / "model.npz"
    save(ckpt, str(path))
    back = load(str(path))
    tg.manual_seed(1)
    fresh = nn.Sequential(nn.Embedding(5, 3, padding_idx=0), nn.Linear(3, 4), nn.LayerNorm(4))
    fresh.load_state_dict(back["model"])
    idx = tg.tensor([[0, 1, 4]])
    np.testing.assert_array_equal(fresh(idx)._data, model(idx)._data)
    assert back["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    assert back["optimizer"]["state"][0]["step"] == 10
    np.testing.assert_array_equal(back["optimizer"]["state"][0]["exp_avg"]._data,
                                  ckpt["optimizer"]["state"][0]["exp_avg"]._data)
    assert (back["epoch"], back["val_loss"], back["note"]) == (3, 1.25, "best")


def test_saves_to_exactly_the_path_given(tmp_path):
    save({"x": 1}, tmp_path / "plain")
    save({"x": 2}, str(tmp_path / "with.npz"))
    assert sorted(os.listdir(tmp_path)) == ["plain", "with.npz"]
    assert load(tmp_path / "plain") == {"x": 1}
    assert np.load(tmp_path / "with.npz", allow_pickle=False)["__manifest__"].dtype == np.uint8


def test_overwrite_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "ck"
    save({"v": 1}, path)
    save({"v": 2}, path)
    assert os.listdir(tmp_path) == ["ck"] and load(path) == {"v": 2}


@pytest.mark.parametrize("bad", [{"w": {1, 2}}, {"w": np.array([object()], dtype=object)},
                                 {"w": np.array(["a", "b"])}, {(1, 2): 3}, {"w": b"bytes"}])
def test_unsupported_objects_raise_type_error_before_anything_is_written(tmp_path, bad):
    path = tmp_path / "ck"
    save({"v": tg.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="save"):
        save({"ok": tg.zeros(2), "bad": bad}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck"]


def test_reference_cycles_are_refused(tmp_path):
    cyclic = {"a": [1]}
    cyclic["a"].append(cyclic)
    with pytest.raises(ValueError, match="a/1"):
        save(cyclic, tmp_path / "ck")
    shared = [1.0]
    save({"x": shared, "y": shared}, tmp_path / "ck")
    assert load(tmp_path / "ck") == {"x": [1.0], "y": [1.0]}


def test_a_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck"
    save({"v": tg.ones(3)}, path)
    before = path.read_bytes()

    def crash(f, arrays):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_npz", crash)
    with pytest.raises(KeyboardInterrupt):
        save({"v": tg.zeros(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck"]


def test_pickled_object_arrays_are_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __manifest__=manifest({"t": "array", "key": "x"}), x=np.array([Bomb()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz.*pickle"):
        load(path)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.array([Bomb()], dtype=object))
    with pytest.raises(ValueError, match="plain.npz"):
        load(plain)
    assert UNPICKLED == []


def test_random_bytes_empty_and_npy_files_are_refused(tmp_path):
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(1000))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3))
    pickle_file = tmp_path / "pickle.pkl"
    pickle_file.write_bytes(b"\x80\x04\x95" + b"\x00" * 20)
    for path in (noise, empty, npy, pickle_file):
        with pytest.raises(ValueError, match=path.name):
            load(path)


def test_truncated_and_corrupted_files_are_refused(tmp_path):
    path = tmp_path / "ck.npz"
    save({"w": tg.randn(100, 100), "b": tg.randn(100)}, path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.npz"):
            load(tmp_path / "cut.npz")
    middle = bytearray(data)
    middle[len(data) // 3: len(data) // 3 + 64] = b"\xff" * 64
    (tmp_path / "flipped.npz").write_bytes(bytes(middle))
    with pytest.raises(ValueError, match="flipped.npz"):
        load(tmp_path / "flipped.npz")


@pytest.mark.parametrize("arrays, why", [
    ({"x": np.zeros(2)}, "no __manifest__"),
    ({"__manifest__": np.frombuffer(b"not json", dtype=np.uint8)}, "unreadable manifest"),
    ({"__manifest__": np.zeros(3)}, "malformed __manifest__"),
    ({"__manifest__": np.frombuffer(b'{"format": "other"}', dtype=np.uint8)}, "format"),
    ({"__manifest__": manifest({"t": "array", "key": "missing"})}, "does not hold"),
    ({"__manifest__": manifest({"t": "array", "key": "__manifest__"})}, "does not hold"),
    ({"__manifest__": manifest({"t": "dict", "items": [[{"k": 1}, {"t": "value", "v": 1}]]})}, "malformed"),
    ({"__manifest__": manifest({"t": "code", "v": "import os"})}, "malformed manifest entry"),
])
def test_foreign_or_malformed_manifests_are_refused(tmp_path, arrays, why):
    path = tmp_path / "foreign.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"foreign.npz.*{why}"):
        load(path)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(pathlib.Path(tmp_path) / "nope.npz")
