"""draw_graph: on a 3-step LSTM written out by hand, the drawing has exactly the op and tensor nodes
and edges that the equations record, one frame per time step (or one box per step, collapsed), and
the same graph comes out as a graphviz.Digraph and as DOT text."""
import re
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.viz import draw_graph

T, B, I, H = 3, 2, 3, 4
# one step: W.T, x_t @ ., U.T, h @ ., +, + b | chunk | σ(f), · c, σ(i), tanh(g), ·, + | σ(o), tanh(c), ·
OPS_PER_STEP = 16
OUTPUTS_PER_STEP = 19  # chunk has four outputs, every other op one
INPUT_EDGES_PER_STEP = 24  # 1+2+1+2+2+2 | 1 | 1+2+1+1+2+2 | 1+1+2


def source(drawing):
    return drawing if isinstance(drawing, str) else drawing.source


def counts(drawing):
    text = source(drawing)
    nodes = re.findall(r"^\s*(\w+) \[label=", text, re.M)
    edges = re.findall(r"^\s*(\w+) -> (\w+)", text, re.M)
    clusters = re.findall(r"subgraph cluster_", text)
    return len(nodes), len(edges), len(clusters)


def hand_written_lstm():
    """h_T of an LSTM written with primitive ops, and its parameters by name."""
    tg.manual_seed(0)
    params = {"W": nn.Parameter(np.random.default_rng(0).standard_normal((4 * H, I))),
              "U": nn.Parameter(np.random.default_rng(1).standard_normal((4 * H, H))),
              "b": nn.Parameter(np.zeros(4 * H))}
    W, U, b = params.values()
    x = tg.randn(T, B, I, dtype=tg.float64)
    h, c = tg.zeros(B, H, dtype=tg.float64), tg.zeros(B, H, dtype=tg.float64)
    for t in range(T):
        a = x[t] @ W.T + h @ U.T + b
        i, f, g, o = a.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
    return h, params


@pytest.mark.parametrize("graphviz_installed", [True, False])
def test_three_step_lstm_has_the_expected_nodes_edges_and_step_frames(graphviz_installed, monkeypatch):
    if graphviz_installed:
        pytest.importorskip("graphviz", reason="the graphviz extra is absent")
    else:
        monkeypatch.setitem(sys.modules, "graphviz", None)  # as if it were not installed
    h, params = hand_written_lstm()
    drawing = draw_graph(h, params=params)
    assert isinstance(drawing, str) != graphviz_installed
    # tensors: each step's outputs and its input slice x[t]; h0 and c0 (in step 1); W, U, b (shared)
    tensors = T * (OUTPUTS_PER_STEP + 1) + 2 + 3
    assert counts(drawing) == (T * OPS_PER_STEP + tensors, T * (INPUT_EDGES_PER_STEP + OUTPUTS_PER_STEP), T)
    text = source(drawing)
    for label in ("W (16, 3)", "U (16, 4)", "b (16,)", "Split", "MatMul", "step 1", "step 3"):
        assert label in text
    collapsed = draw_graph(h, collapse_steps=True, params=params)
    # three boxes and three weights; each weight feeds each step, and step k feeds step k+1
    assert counts(collapsed) == (3 + 3, 3 * 3 + (T - 1), 0)
    assert f"{OPS_PER_STEP} ops" in source(collapsed)


def test_library_layers_show_one_frame_per_step_and_the_fused_kernel_as_one_node():
    pytest.importorskip("graphviz", reason="the graphviz extra is absent")
    x = tg.randn(4, 2, 3)
    lstm = nn.LSTM(3, 5, impl="unrolled")
    drawing = draw_graph(lstm(x)[0], params=lstm)
    text = source(drawing)
    assert counts(drawing)[2] == 4 and "weight_hh_l0 (20, 5)" in text
    frames = re.split(r"subgraph cluster_", text)[1:]
    ops_per_frame = [len(re.findall(r"shape=box", f.split("}")[0])) for f in frames]
    assert len(set(ops_per_frame[1:])) == 1 and ops_per_frame[1] > 0
    boxes = re.findall(r"step (\d)\\n(\d+) ops", source(draw_graph(lstm(x)[0], collapse_steps=True)))
    assert [int(k) for k, _ in boxes] == [1, 2, 3, 4]
    fused = nn.LSTM(3, 5)
    assert counts(draw_graph(fused(x)[0], params=fused))[2] == 0


def test_unnamed_parameters_and_bad_input():
    w = nn.Parameter(np.ones((2, 2)))
    text = source(draw_graph(tg.ones(1, 2) @ w))
    assert "Parameter (2, 2)" in text and "constant (1, 2)" in text
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        draw_graph(np.ones(2))


def test_each_layer_and_direction_is_its_own_recurrence():
    x = tg.randn(T, 2, 3)
    gru = nn.GRU(3, 4, num_layers=2, bidirectional=True, impl="unrolled")
    text = source(draw_graph(gru(x)[0], params=gru))
    assert counts(text)[2] == 2 * 2 * T
    for layer in ("l0", "l0_reverse", "l1", "l1_reverse"):
        assert all(f'"weight_hh_{layer} step {k}"' in text for k in range(1, T + 1))
