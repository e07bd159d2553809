"""`export CKPT --onnx FILE --torch FILE`: the files load and compute what our model computes, the
state dict loads into torch.nn modules, and every failure is one line on stderr."""
import contextlib
import io
import json
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import cli
from tinygrad_rnn.apps import charlm
from tinygrad_rnn.data import CharVocab


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(result, pattern, code=1):
    status, _, err = result
    assert status == code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert pattern in err, err


@pytest.fixture(params=["lstm", "gru"])
def checkpoint(request, tmp_path):
    tg.manual_seed(0)
    vocab = CharVocab("hello, world\n")
    model = charlm.CharLM(vocab.size, 12, 2, request.param, embedding_dim=5)
    path = str(tmp_path / "lm.npz")
    tg.save(charlm.checkpoint(model, vocab), path)
    return path, model, vocab


def ours(model, ids):
    model.eval()
    with tg.no_grad():
        logits, state = model(ids)
    return [logits.detach().numpy()] + [s.detach().numpy() for s in (state if isinstance(state, tuple) else (state,))]


def test_torch_state_dict_loads_into_torch_nn_modules(checkpoint, tmp_path):
    torch = pytest.importorskip("torch")
    path, model, vocab = checkpoint
    out = str(tmp_path / "lm.pt")
    status, stdout, err = run(["export", path, "--torch", out])
    assert status == 0, err
    assert "checked in PyTorch" in stdout and "rnn.* -> torch.nn." in stdout
    sd = torch.load(out, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.model_type](5, 12, 2)
    layer.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    embed, head = torch.nn.Embedding(vocab.size, 5), torch.nn.Linear(12, vocab.size)
    embed.load_state_dict({"weight": sd["embed.weight"]})
    head.load_state_dict({"weight": sd["head.weight"], "bias": sd["head.bias"]})
    ids = np.array([[1, 2], [3, 4], [0, 5]])
    with torch.no_grad():
        h, state = layer(embed(torch.from_numpy(ids)))
        logits = head(h)
    expected = ours(model, ids)
    np.testing.assert_allclose(logits.numpy(), expected[0], atol=1e-6, rtol=1e-6)
    for s, e in zip(state if isinstance(state, tuple) else (state,), expected[1:]):
        np.testing.assert_allclose(s.numpy(), e, atol=1e-6, rtol=1e-6)


def test_onnx_file_runs_in_onnxruntime_and_carries_the_vocabulary(checkpoint, tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is absent")
    ort = pytest.importorskip("onnxruntime", reason="the onnxruntime extra is absent")
    path, model, vocab = checkpoint
    out = str(tmp_path / "lm.onnx")
    status, stdout, err = run(["export", path, "--onnx", out])
    assert status == 0, err
    assert "checked in onnxruntime" in stdout
    proto = onnx.load(out)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert CharVocab.from_dict(json.loads(meta["vocab"])).chars == vocab.chars
    ids = np.array([[1, 2, 3], [3, 4, 0], [0, 5, 6], [6, 6, 6]])
    got = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"ids": ids})
    for g, e in zip(got, ours(model, ids)):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-5)


def test_export_failures_are_one_line(checkpoint, tmp_path, monkeypatch):
    path, _, _ = checkpoint
    assert_one_line_error(run(["export", path]), "needs --onnx FILE and/or --torch FILE", 2)
    assert_one_line_error(run(["export", path, "--torch", str(tmp_path / "no" / "lm.pt")]), "folder does not exist")
    assert_one_line_error(run(["export", str(tmp_path / "missing.npz"), "--onnx", str(tmp_path / "a.onnx")]),
                          "cannot read checkpoint")
    bad = tmp_path / "bad.npz"
    tg.save({"x": 1}, str(bad))
    assert_one_line_error(run(["export", str(bad), "--onnx", str(tmp_path / "a.onnx")]), "bad checkpoint")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    assert_one_line_error(run(["export", path, "--torch", str(tmp_path / "lm.pt")]), "--torch needs PyTorch")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert_one_line_error(run(["export", path, "--onnx", str(tmp_path / "lm.onnx")]), "--onnx needs the onnx package")
