"""Recurrent cells and layers against PyTorch in float64: the same state dict loaded into both, then
outputs, final states and every gradient (input, h0, c0, each parameter) compared to 1e-10.
Variable lengths are compared with PyTorch's pack_padded_sequence / pad_packed_sequence."""
import numpy as np
import pytest

from tinygrad_rnn import autograd

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from recurrent_table import (IMPLS, KINDS, NONEMPTY_EDGES, at_edge, cell_arrays, cfg, edge_cases,  # noqa: E402
                             layer_arrays, layer_from_cfg, make_cell, make_layer, pack_hx, states_list, t64, th,
                             torch_module, torch_twin)

TOL = 1e-10


def assert_close(ours, theirs, what):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL, err_msg=what)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, True, False),
                                                           (2, False, False)])
def test_state_dict_names_order_and_shapes_equal_torchs(kind, num_layers, bidirectional, bias):
    kw = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    ours, theirs = make_layer(kind, 5, 7, dtype=None, **kw), torch_module(kind, 5, 7, **kw)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours_c, theirs_c = make_cell(kind, 5, 7, bias=bias, dtype=None), torch_module(kind, 5, 7, cell=True, bias=bias)
    assert [(k, tuple(v.shape)) for k, v in ours_c.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs_c.state_dict().items()]


# --- cells ------------------------------------------------------------------------------------------
def assert_cell_matches_torch(kind, I, H, B, bias, with_hx):
    """Output(s) and every gradient of our cell and its PyTorch twin; B=None is unbatched input."""
    ours = make_cell(kind, I, H, bias)
    theirs = torch_twin(ours)
    rng = np.random.default_rng(0)
    xa, sa = cell_arrays(kind, B, I, H, rng, with_hx)
    x, xt = t64(xa, True), th(xa, True)
    s, st = [t64(a, True) for a in sa], [th(a, True) for a in sa]
    out, out_t = ours(x, pack_hx(kind, s)), theirs(xt, pack_hx(kind, st))
    outs, outs_t = states_list(kind, out), states_list(kind, out_t)
    weights = [rng.standard_normal(o.shape) for o in outs_t]
    for o, ot in zip(outs, outs_t):
        assert_close(o._data, ot, "output")
    sum(((o * w).sum() for o, w in zip(outs, weights)), t64(0.0)).backward()
    sum((ot * th(w)).sum() for ot, w in zip(outs_t, weights)).backward()
    assert_close(x.grad._data, xt.grad, "dx")
    for a, b in zip(s, st):
        assert_close(a.grad._data, b.grad, "dhx")
    for (name, p), (name_t, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == name_t
        assert_close(p.grad._data, q.grad, name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cell_matches_torch(kind, batched, bias, with_hx):
    assert_cell_matches_torch(kind, 4, 3, 3 if batched else None, bias, with_hx)


@pytest.mark.parametrize("edge", list(edge_cases(cfg())))
@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch_at_edges(kind, edge):
    c = at_edge(cfg(B=3, I=4, H=3), edge)
    assert_cell_matches_torch(kind, c["I"], c["H"], c["B"], True, True)


# --- layers -----------------------------------------------------------------------------------------
def parity_cfg(T=5, B=3, I=4, H=3, h0=False, **kwargs):
    return cfg(T=T, B=B, I=I, H=H, h0=h0, **kwargs)


CASES = {
    "plain": parity_cfg(),
    "two_layers_h0": parity_cfg(num_layers=2, h0=True),
    "bidirectional_two_layers_h0": parity_cfg(num_layers=2, bidirectional=True, h0=True),
    "batch_first_bidirectional": parity_cfg(batch_first=True, bidirectional=True, h0=True),
    "unbatched_h0": parity_cfg(B=None, num_layers=2, bidirectional=True, h0=True),
    "unbatched": parity_cfg(B=None),
    "no_bias": parity_cfg(bias=False, num_layers=2, h0=True),
    "lengths": parity_cfg(T=6, B=4, lengths=[6, 2, 4, 1], h0=True),
    "lengths_bidir_deep_batch_first": parity_cfg(T=6, B=4, num_layers=2, bidirectional=True, batch_first=True,
                                                 lengths=[3, 6, 1, 5], h0=True),
    "lengths_all_full": parity_cfg(T=4, B=2, bidirectional=True, lengths=[4, 4]),
    **edge_cases(parity_cfg(num_layers=2, bidirectional=True, batch_first=True, h0=True), "bidir_deep_"),
    **edge_cases(parity_cfg(T=6, B=4, num_layers=2, bidirectional=True, lengths=[3, 6, 1, 5], h0=True),
                 "lengths_bidir_deep_", NONEMPTY_EDGES),  # PyTorch cannot pack an empty batch
}


def make_layers(kind, impl, c):
    ours = layer_from_cfg(kind, impl, c)
    return ours, torch_twin(ours)


def run_torch(kind, theirs, c, xt, st):
    hx = pack_hx(kind, st)
    if c["lengths"] is None:
        out, hn = theirs(xt, hx)
    else:
        packed = pack_padded_sequence(xt, torch.tensor(c["lengths"]), batch_first=c["batch_first"],
                                      enforce_sorted=False)
        out, hn = theirs(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=c["batch_first"], total_length=c["T"])
    return out, states_list(kind, hn)


def layer_data(kind, c, seed=0):
    rng = np.random.default_rng(seed)
    return (rng, *layer_arrays(kind, c, rng))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch(kind, impl, case):
    c = CASES[case]
    ours, theirs = make_layers(kind, impl, c)
    rng, xa, sa = layer_data(kind, c)
    x, xt = t64(xa, True), th(xa, True)
    s, st = [t64(a, True) for a in sa], [th(a, True) for a in sa]
    out, hn = ours(x, pack_hx(kind, s), lengths=c["lengths"])
    finals = states_list(kind, hn)
    out_t, finals_t = run_torch(kind, theirs, c, xt, st)
    assert_close(out._data, out_t, "output")
    for f, ft in zip(finals, finals_t):
        assert_close(f._data, ft, "final state")
    weights = [rng.standard_normal(tuple(t.shape)) for t in (out_t, *finals_t)]
    sum(((t * w).sum() for t, w in zip((out, *finals), weights)), t64(0.0)).backward()
    sum((t * th(w)).sum() for t, w in zip((out_t, *finals_t), weights)).backward()
    assert_close(x.grad._data, xt.grad, "dx")
    for k, (a, b) in enumerate(zip(s, st)):
        assert_close(a.grad._data, b.grad, ("dh0", "dc0")[k])
    named_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad._data, named_t[name].grad, name)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("impl", IMPLS)
def test_dropout_between_layers_eval_matches_torch_and_train_is_stochastic(kind, impl):
    c = cfg(T=5, B=3, num_layers=3, h0=True)
    ours, theirs = make_layers(kind, impl, c)
    ours.dropout, theirs.dropout = 0.5, 0.5
    rng, xa, sa = layer_data(kind, c, seed=1)
    x, xt = t64(xa), th(xa)
    s, st = [t64(a) for a in sa], [th(a) for a in sa]
    hx = pack_hx(kind, s)

    ours.eval()
    theirs.eval()
    with autograd.no_grad(), torch.no_grad():
        out_e1, hn_e1 = ours(x, hx)
        out_e2, _ = ours(x, hx)
        out_t, finals_t = run_torch(kind, theirs, c, xt, st)
    np.testing.assert_array_equal(out_e1._data, out_e2._data)
    assert_close(out_e1._data, out_t, "eval output")
    for f, ft in zip(states_list(kind, hn_e1), finals_t):
        assert_close(f._data, ft, "eval final state")

    ours.train()
    with autograd.no_grad():
        out_a, hn_a = ours(x, hx)
        out_b, _ = ours(x, hx)
    assert np.abs(out_a._data - out_b._data).max() > 1e-3
    assert np.abs(out_a._data - out_e1._data).max() > 1e-3
    # dropout acts between layers: the first layer's final state is untouched, the later ones are not
    h_a = states_list(kind, hn_a)[0]._data
    assert_close(h_a[0], finals_t[0][0], "train-mode first-layer state")
    assert np.abs(h_a[1] - finals_t[0][1].numpy()).max() > 1e-3
    np.testing.assert_array_equal(out_a._data[-1], h_a[-1])  # the last layer's output is not dropped
