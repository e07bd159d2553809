"""ONNX export: every exported file passes onnx.checker and, run in onnxruntime, gives our forward's
outputs to 1e-5 (float32) on the example input and on inputs of other lengths and batch sizes
(dynamic axes); recurrent layers become the standard RNN/LSTM/GRU ops."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.apps.charlm import CharLM

from recurrent_table import KINDS, make_layer, n_states as state_count


onnx = pytest.importorskip("onnx", reason="the onnx extra is absent (pip install 'tinygrad_rnn[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the onnxruntime extra is absent (pip install onnxruntime)")
from tinygrad_rnn.onnx import OPSET, export  # noqa: E402

TOL = 1e-5


def exported(model, example, tmp_path):
    path = tmp_path / "model.onnx"
    export(model, example, str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import] == [OPSET]
    return proto, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def ours(model, *args):
    """Our outputs flattened like the graph's; a third argument is lengths."""
    with tg.no_grad():
        out = model(*args[:2], lengths=args[2]) if len(args) > 2 else model(*args)
    flat = []
    for o in out if isinstance(out, tuple) else (out,):
        flat.extend(o if isinstance(o, tuple) else [o])
    return [o.detach().numpy() for o in flat]


def assert_matches(session, feeds, expected):
    got = session.run(None, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=TOL, atol=TOL)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (1, True), (3, False), (2, True)])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_layers_run_in_onnxruntime_like_ours(kind, num_layers, bidirectional, with_state, tmp_path):
    model = make_layer(kind, 4, 6, dtype=None, num_layers=num_layers, bidirectional=bidirectional)
    model.eval()
    n_states = state_count(kind) if with_state else 0
    S = num_layers * (1 + bidirectional)

    def args(T, B, seed):
        x = randn(T, B, 4, seed=seed)
        states = [randn(S, B, 6, seed=seed + k + 1) for k in range(n_states)]
        feeds = {"input": x, **dict(zip(["h0", "c0"], states))}
        state = None if not states else (tuple(map(tg.tensor, states)) if len(states) == 2 else tg.tensor(states[0]))
        return feeds, (tg.tensor(x),) if state is None else (tg.tensor(x), state)

    feeds, example = args(5, 3, 0)
    proto, session = exported(model, example if len(example) > 1 else example[0], tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(type(model).__name__) == num_layers and "Loop" not in ops and "Scan" not in ops
    assert_matches(session, feeds, ours(model, *example))
    feeds, example = args(9, 2, 5)  # another length and batch: the axes are dynamic
    assert_matches(session, feeds, ours(model, *example))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("with_state", [False, True])
def test_lengths_become_sequence_lens_with_our_semantics(kind, with_state, tmp_path):
    """Zeros past each length, h_n at each sequence's own end, the reverse direction from that end."""
    model = make_layer(kind, 3, 5, dtype=None, num_layers=2, bidirectional=True, batch_first=True)
    n_states = state_count(kind)

    def run(B, T, lengths, seed):
        x = randn(B, T, 3, seed=seed)
        states = [randn(4, B, 5, seed=seed + k + 1) for k in range(n_states)] if with_state else []
        hx = (tuple(map(tg.tensor, states)) if n_states == 2 else tg.tensor(states[0])) if states else None
        feeds = {"input": x, **dict(zip(["h0", "c0"], states)), "lengths": np.array(lengths, dtype=np.int32)}
        return feeds, (tg.tensor(x), hx, np.array(lengths))

    feeds, example = run(4, 6, [2, 6, 1, 4], 0)
    _, session = exported(model, example, tmp_path)
    assert_matches(session, feeds, ours(model, *example))
    feeds, example = run(3, 9, [9, 3, 5], 7)
    assert_matches(session, feeds, ours(model, *example))


def test_batch_first_and_bias_free_layers(tmp_path):
    model = nn.LSTM(4, 6, 2, bias=False, batch_first=True, bidirectional=True)
    _, session = exported(model, tg.tensor(randn(3, 5, 4)), tmp_path)
    x = randn(2, 7, 4, seed=1)
    assert_matches(session, {"input": x}, ours(model, tg.tensor(x)))


@pytest.mark.parametrize("model_type,embedding_dim,num_layers", [("lstm", 8, 2), ("gru", 0, 1), ("rnn", 5, 1)])
@pytest.mark.parametrize("with_state", [False, True])
def test_the_cli_character_language_model(model_type, embedding_dim, num_layers, with_state, tmp_path):
    tg.manual_seed(1)
    model = CharLM(13, 10, num_layers, model_type, dropout=0.1, embedding_dim=embedding_dim)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 13, (6, 2))
    _, state = model(ids)
    state = state if with_state else None
    proto, session = exported(model, (ids, state) if with_state else ids, tmp_path)
    assert "Gather" in [n.op_type for n in proto.graph.node]
    model.eval()
    feeds = {"ids": ids}
    if with_state:
        feeds.update(zip(["h0", "c0"], [s.detach().numpy() for s in (state if isinstance(state, tuple) else (state,))]))
    assert_matches(session, feeds, ours(model, ids, state))
    longer = rng.integers(0, 13, (11, 2))
    feeds["ids"] = longer
    assert_matches(session, feeds, ours(model, longer, state))


def feedforward_cases():
    cases = {
        "linear_gemm": (lambda: nn.Linear(4, 3), randn(2, 4)),
        "linear_matmul_3d": (lambda: nn.Linear(4, 3, bias=False), randn(5, 2, 4)),
        "sequential": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 6),
                                             nn.ReLU(), nn.LayerNorm(6), nn.Sigmoid(), nn.Identity()), randn(3, 4)),
        "embedding_layernorm": (lambda: nn.Sequential(nn.Embedding(9, 4), nn.LayerNorm(4, elementwise_affine=False)),
                                np.random.default_rng(0).integers(0, 9, (5, 2))),
        "layernorm_2d_no_bias": (lambda: nn.LayerNorm((2, 4), bias=False), randn(3, 2, 4)),
    }
    return cases


@pytest.mark.parametrize("case", sorted(feedforward_cases()))
def test_feedforward_modules(case, tmp_path):
    factory, x = feedforward_cases()[case]
    tg.manual_seed(0)
    model = factory()
    _, session = exported(model, x, tmp_path)
    model.eval()
    assert_matches(session, {"input": x}, ours(model, x if x.dtype.kind in "iu" else tg.tensor(x)))
    bigger = np.concatenate([x, x[:1] * 0.5 if x.dtype.kind == "f" else x[:1]])  # one more row: dynamic
    assert_matches(session, {"input": bigger}, ours(model, bigger if x.dtype.kind in "iu" else tg.tensor(bigger)))


class Doubling(nn.Module):
    def forward(self, x):
        return 2 * x


def test_unsupported_models_and_inputs_are_named(tmp_path):
    path = str(tmp_path / "m.onnx")
    with pytest.raises(TypeError, match=r"onnx.export: module '1' is a .*Doubling"):
        export(nn.Sequential(nn.Linear(2, 2), Doubling()), tg.randn(3, 2), path)
    with pytest.raises(TypeError, match="the model is a .*LSTMCell"):
        export(nn.LSTMCell(2, 2), tg.randn(3, 2), path)
    with pytest.raises(ValueError, match=r"needs batched input \(3 dims\)"):
        export(nn.GRU(2, 3), tg.randn(4, 2), path)
    with pytest.raises(ValueError, match="LSTM takes 2 initial state"):
        export(nn.LSTM(2, 3), (tg.randn(4, 1, 2), tg.randn(1, 1, 3)), path)
    assert not (tmp_path / "m.onnx").exists()


def test_softmax_and_log_softmax(tmp_path):
    for cls in (nn.Softmax, nn.LogSoftmax):
        model = nn.Sequential(nn.Linear(4, 5), cls(dim=-1))
        proto, session = exported(model, randn(3, 4), tmp_path)
        assert cls.__name__ in [n.op_type for n in proto.graph.node]
        x = randn(6, 4, seed=2)
        assert_matches(session, {"input": x}, ours(model, tg.tensor(x)))


def test_float64_models_export_valid_files(tmp_path):
    """onnxruntime's CPU recurrent kernels are float32 only, so float64 files are checked, and run
    where onnxruntime has double kernels (Gemm, Tanh)."""
    lstm = nn.LSTM(3, 4, 2, bidirectional=True, dtype=tg.float64)
    path = str(tmp_path / "lstm64.onnx")
    export(lstm, tg.randn(5, 2, 3, dtype=tg.float64), path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    model = nn.Sequential(nn.Linear(3, 4, dtype=tg.float64), nn.Tanh(), nn.Linear(4, 2, dtype=tg.float64))
    x = np.random.default_rng(0).standard_normal((5, 3))
    _, session = exported(model, x, tmp_path)
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, ours(model, tg.tensor(x))[0], rtol=1e-12, atol=1e-12)
