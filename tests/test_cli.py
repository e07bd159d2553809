"""The command line, run in-process through cli.main(argv) (plus one subprocess smoke test)."""
import contextlib
import io
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import cli
from tinygrad_rnn.data import load_text

from recurrent_table import break_compiled_gradient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
TINY = ["--hidden", "16", "--embedding", "8", "--batch", "4", "--seq-len", "16"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text(load_text()[:6000], encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def checkpoint(text_file, tmp_path_factory):
    """A checkpoint from a short run on the small text, and that run's output."""
    path = str(tmp_path_factory.mktemp("ckpt") / "model.npz")
    tg.manual_seed(0)
    out = run_capture(["train", "--text", text_file, "--hidden", "32", "--embedding", "16", "--batch", "8",
                       "--seq-len", "32", "--steps", "50", "--eval-every", "25", "--sample-length", "30",
                       "--save", path])
    return path, out


def run_capture(argv):
    """main(argv) with stdout/stderr captured: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(result, code=None):
    status, _, err = result
    assert status != 0 and (code is None or status == code)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "error" in err


def test_help_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0
    assert all(cmd in proc.stdout for cmd in ("train", "sample", "task", "gradcheck", "bench"))


@pytest.mark.parametrize("command", ["train", "sample", "task", "gradcheck", "bench"])
def test_every_command_has_help(command):
    status, out, _ = run_capture([command, "--help"])
    assert status == 0 and "usage: tinygrad-rnn " + command in out


def test_train_lowers_the_loss_and_writes_a_checkpoint(checkpoint):
    path, (status, out, err) = checkpoint
    assert status == 0, err
    vocab = len(set(load_text()[:6000]))
    first, final = [float(v) for v in re.findall(r"validation loss ([\d.]+) nats", out)]
    assert final < first < math.log(vocab)
    assert "bits/char" in out and "--- sample" in out and os.path.isfile(path)
    assert "chars/s" in err  # the progress bar
    ckpt = tg.load(path)
    assert ckpt["step"] == 50 and ckpt["config"]["hidden_size"] == 32
    assert ckpt["vocab"]["chars"] == "".join(sorted(set(load_text()[:6000])))
    assert ckpt["optimizer"]["name"] == "Adam" and ckpt["optimizer"]["state"]["state"]


def test_sample_starts_with_the_prime_and_repeats_with_a_seed(checkpoint):
    path, _ = checkpoint
    argv = ["sample", path, "--prime", "The ", "--length", "40", "--seed", "3"]
    status, out, _ = run_capture(argv)
    text = out[:-1]  # print's newline
    assert status == 0 and text.startswith("The ") and len(text) == 44
    assert run_capture(argv)[1] == out
    assert len(run_capture(["sample", path, "--length", "25", "--temperature", "0"])[1]) == 26


def test_train_on_the_builtin_corpus():
    status, out, err = run_capture(["train", "--steps", "3", "--eval-every", "0", "--sample-length", "10",
                                    "--model", "gru", "--optim", "rmsprop", *TINY])
    assert status == 0, err
    assert "3 steps" in out and re.search(r"validation loss [\d.]+ nats, [\d.]+ bits/char", out)


def test_ctrl_c_saves_the_checkpoint_and_exits_cleanly(text_file, tmp_path, monkeypatch):
    calls = []

    def interrupt(params, max_norm):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr("tinygrad_rnn.training.clip_grad_norm_", interrupt)
    path = str(tmp_path / "interrupted.npz")
    status, _, err = run_capture(["train", "--text", text_file, "--steps", "20", "--save", path, *TINY])
    assert status == 130 and "interrupted after 3 of 20 steps" in err and "Traceback" not in err
    assert tg.load(path)["step"] == 3


def test_task_adding_reports_metric_and_baseline():
    status, out, _ = run_capture(["task", "adding", "--steps", "30", "--T", "10", "--hidden", "8"])
    assert status in (0, 1)  # 1: it did not beat the baseline in 30 steps
    assert re.search(r"test MSE [\d.e-]+ vs baseline 0\.1667", out)


def test_gradcheck_passes():
    status, out, _ = run_capture(["gradcheck"])
    assert status == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith(("RNN", "LSTM", "GRU"))]
    assert len(rows) == 8 and "FAIL" not in out
    assert all(row[-2:] == ["ok", "ok"] for row in rows)
    assert all(float(v) <= 1 for row in rows for v in row[-9:-2] if v != "-")  # error / tolerance


def test_gradcheck_fails_on_a_broken_kernel_gradient(monkeypatch):
    break_compiled_gradient(monkeypatch, "w_hh", 1.01)
    status, out, _ = run_capture(["gradcheck", "--model", "lstm"])
    assert status == 1
    fused, unrolled = [line for line in out.splitlines() if line.startswith("LSTM")]
    assert fused.endswith("FAIL") and unrolled.endswith("ok")
    header = next(line.split() for line in out.splitlines() if line.startswith("model"))
    assert float(fused.split()[header.index("weight_hh")]) > 1  # the broken parameter is the one over


@pytest.mark.parametrize("argv, code", [
    (["train", "--model", "transformer"], 2),
    (["train", "--steps", "-5"], 2),
    (["train", "--lr", "abc"], 2),
    (["train", "--text", "/nonexistent/corpus.txt"], 1),
    (["task", "sudoku"], 2),
    (["task", "timer", "--T", "10"], 2),
    (["sample", "/nonexistent/model.npz"], 1),
    ([], 2),
])
def test_bad_arguments_give_one_line_errors(argv, code):
    assert_one_line_error(run_capture(argv), code)


def test_seq_len_longer_than_the_text(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("hello world, " * 20, encoding="utf-8")
    result = run_capture(["train", "--text", str(path), "--seq-len", "200", "--batch", "2"])
    assert_one_line_error(result, 2)
    assert "--seq-len 200" in result[2]


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04truncated zip"])
def test_corrupt_checkpoint(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    assert_one_line_error(run_capture(["sample", str(path)]), 1)


def test_foreign_checkpoint_and_unknown_prime(tmp_path, checkpoint):
    foreign = tmp_path / "weights.npz"
    tg.save({"weight": np.zeros(3)}, str(foreign))
    assert_one_line_error(run_capture(["sample", str(foreign)]), 1)
    result = run_capture(["sample", checkpoint[0], "--prime", "snow \u2603"])
    assert_one_line_error(result, 2)
    assert "'\u2603'" in result[2]


def test_bench_needs_a_source_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(tg, "__file__", str(tmp_path / "site-packages" / "tinygrad_rnn" / "__init__.py"))
    result = run_capture(["bench"])
    assert_one_line_error(result, 2)
    assert "python -m benchmarks all --quick" in result[2] and "does not ship" in result[2]


@pytest.mark.parametrize("argv, pinned", [(["--help"], False), (["bench"], False), (["train", "--steps", "abc"], False),
                                          (["task", "adding", "--steps", "1", "--T", "4", "--hidden", "2"], True)])
def test_one_blas_thread_only_for_commands_that_train(monkeypatch, tmp_path, argv, pinned):
    calls = []
    monkeypatch.setattr("tinygrad_rnn.blas_threads.one_thread_everywhere", lambda: calls.append(1))
    monkeypatch.setattr(tg, "__file__", str(tmp_path / "tinygrad_rnn" / "__init__.py"))  # bench: no checkout
    run_capture(argv)
    assert calls == ([1] if pinned else [])
