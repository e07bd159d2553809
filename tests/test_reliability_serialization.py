"""Checkpoints against hostile keys, hostile sizes, deep structures, killed writers and file modes
(issue 11, items 4, 7, 8 and the deep-nesting edge of 9)."""
import glob
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from numpy.lib import format as npy_format

import tinygrad_rnn as tg
from tinygrad_rnn import load, save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRICKY_KEYS = ["1", "-1", "x", "x.npy", "__manifest__", "__manifest__.npy", "", ".npy", "a/b", "../up", "a\x00b", "a\x00",
               "\ud800", "é/ü", "k" * 5000, "#1", "x#1", "array", "with space", "back\\slash"]


def _temporaries(path):
    return glob.glob(os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.*.tmp"))


@given(keys=st.lists(st.one_of(st.text(max_size=12), st.integers()), min_size=1, max_size=6, unique=True))
@example(keys=TRICKY_KEYS + [1, -1, 2**70])
def test_any_string_key_round_trips_to_its_own_value(tmp_path_factory, keys):
    """Each key (str or int) holds a distinct array, and a nested dict repeats the keys: nothing may be
    read back under another key's name (this used to load "x.npy" as the array of "x")."""
    path = tmp_path_factory.mktemp("keys") / "c.npz"
    obj = {k: np.full(i + 1, float(i)) for i, k in enumerate(keys)}
    obj[keys[0]] = {k: np.full(i + 2, -float(i)) for i, k in enumerate(keys)}
    save(obj, path)
    back = load(path)
    assert list(back) == list(obj)
    for k, v in obj.items():
        if isinstance(v, dict):
            assert list(back[k]) == list(v)
            for kk, vv in v.items():
                np.testing.assert_array_equal(back[k][kk].numpy(), vv)
        else:
            np.testing.assert_array_equal(back[k].numpy(), v)


def test_deeply_nested_structures_are_a_value_error_both_ways(tmp_path):
    deep = tg.ones(2)
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than"):
        save(deep, tmp_path / "deep.npz")
    assert os.listdir(tmp_path) == []
    ok = 1.0
    for _ in range(150):
        ok = {"a": ok}
    save(ok, tmp_path / "ok.npz")
    assert load(tmp_path / "ok.npz") == ok


def _npz(path, members, compression=zipfile.ZIP_STORED):
    """A zip of raw members (name -> bytes), as a hostile writer would make it."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _manifest(root):
    doc = json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": root}).encode()
    return _npy(np.frombuffer(doc, dtype=np.uint8))


def test_a_header_declaring_terabytes_is_refused_before_allocating(tmp_path):
    """A 1.6 KB file whose .npy header declares 8 TiB used to raise MemoryError (or take the memory)."""
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    _npz(tmp_path / "huge.npz", {"__manifest__.npy": _manifest({"t": "array", "key": "x"}),
                                 "x.npy": header.getvalue()})
    with pytest.raises(ValueError, match=r"huge.npz.*'x'.*beyond max_bytes"):
        load(tmp_path / "huge.npz")


def test_a_compression_bomb_is_refused_before_inflating(tmp_path):
    """32 MiB of zeros deflate to ~32 KiB; with max_bytes=1 MiB it must be refused from its declared size."""
    _npz(tmp_path / "bomb.npz", {"__manifest__.npy": _manifest({"t": "array", "key": "x"}),
                                 "x.npy": _npy(np.zeros(2**22))}, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(tmp_path / "bomb.npz") < 2**20
    with pytest.raises(ValueError, match="beyond max_bytes=1,048,576"):
        load(tmp_path / "bomb.npz", max_bytes=2**20)
    assert load(tmp_path / "bomb.npz", max_bytes=2**26).numpy().shape == (2**22,)


def test_max_bytes_counts_all_arrays_and_is_validated(tmp_path):
    save({"a": np.zeros(1000), "b": np.zeros(1000)}, tmp_path / "two.npz")
    assert set(load(tmp_path / "two.npz", max_bytes=20000)) == {"a", "b"}
    with pytest.raises(ValueError, match="max_bytes=12,000"):
        load(tmp_path / "two.npz", max_bytes=12000)  # each array fits, both do not
    with pytest.raises(ValueError, match="max_bytes must be a non-negative int"):
        load(tmp_path / "two.npz", max_bytes=-1)


def test_a_saved_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "secret.npz"
    save({"w": np.ones(3)}, path)
    os.chmod(path, 0o600)
    save({"w": np.zeros(3)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o640)
    save({"w": np.ones(3)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_a_live_writers_temporary_is_kept_and_a_dead_ones_removed(tmp_path):
    import fcntl
    path = str(tmp_path / "ck.npz")
    live, dead = f"{tmp_path}/.ck.npz.1.aaaa.tmp", f"{tmp_path}/.ck.npz.2.bbbb.tmp"
    for name in (live, dead):
        open(name, "wb").close()
    other = f"{tmp_path}/.other.npz.3.cccc.tmp"  # another target's: never touched
    open(other, "wb").close()
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        save({"w": np.ones(2)}, path)
        assert sorted(_temporaries(path)) == [live]
    save({"w": np.ones(2)}, path)
    assert _temporaries(path) == [] and os.path.exists(other)


SAVER = textwrap.dedent("""
    import sys, numpy as np, tinygrad_rnn as tg
    big = {"w": np.ones((4, 2**20))}
    print("ready", flush=True)
    while True:
        tg.save(big, sys.argv[1])
""")


def _kill_mid_save(path, env):
    """Start a process that saves in a loop and SIGKILL it while a save's temporary exists. It is
    frozen (SIGSTOP) first and the temporary looked for again: a save that ends between the look
    and the kill would leave nothing to clean up, and on a busy machine that window is wide."""
    proc = subprocess.Popen([sys.executable, "-c", SAVER, path], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _temporaries(path):
                proc.send_signal(signal.SIGSTOP)
                if _temporaries(path):
                    return True
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.002)
        return False
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def test_saves_killed_with_sigkill_leave_nothing_behind_after_the_next_save(tmp_path):
    """Kill a process mid-save three times (32 MiB checkpoints); one more save must clean up."""
    path = str(tmp_path / "ck.npz")
    env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": "1"}
    for _ in range(3):
        assert _kill_mid_save(path, env), "no save was caught mid-write"
    assert _temporaries(path)
    save({"w": np.zeros(3)}, path)
    assert _temporaries(path) == []
    np.testing.assert_array_equal(load(path)["w"].numpy(), np.zeros(3))


def test_the_bounded_reader_keeps_every_dtype_layout_and_shape(tmp_path):
    arrays = {"fortran": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)), "transposed": np.arange(6).reshape(2, 3).T,
              "scalar": np.array(5.0), "empty": np.zeros((0, 3), np.complex64), "bool": np.array([True, False]),
              "uint8": np.arange(5, dtype=np.uint8), "big_endian": np.arange(3, dtype=">f8")}
    save(arrays, tmp_path / "kinds.npz")
    back = load(tmp_path / "kinds.npz")
    for k, v in arrays.items():
        got = back[k].numpy()
        assert got.dtype == v.dtype and got.shape == v.shape and np.array_equal(got, v), k
        got[...] = 0  # writable, not a view of a read-only buffer
