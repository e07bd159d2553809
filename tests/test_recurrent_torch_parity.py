"""Recurrent cells and layers against PyTorch in float64: the same state dict loaded into both, then
outputs, final states and every gradient (input, h0, c0, each parameter) compared to 1e-10.
Variable lengths are compared with PyTorch's pack_padded_sequence / pad_packed_sequence."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import autograd

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from tinygrad_rnn.nn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNCell

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
IMPLS = ["fused", "unrolled"]
TOL = 1e-10


def t64(a, requires_grad=False):
    return tg.tensor(np.array(a, dtype=np.float64), dtype=np.float64, requires_grad=requires_grad)


def th(a, requires_grad=False):
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def assert_close(ours, theirs, what):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL, err_msg=what)


def load_into_torch(ours, theirs):
    """Copy our state dict into the torch module; strict loading also proves the names agree."""
    sd = {k: torch.from_numpy(v._data.copy()) for k, v in ours.state_dict().items()}
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict(sd, strict=True)
    for k, v in theirs.state_dict().items():  # shapes and values now identical
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k]._data)


def as_list(kind, hn):
    return list(hn) if kind == "lstm" else [hn]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, True, False),
                                                           (2, False, False)])
def test_state_dict_names_order_and_shapes_equal_torchs(kind, num_layers, bidirectional, bias):
    kw = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    if kind.startswith("rnn"):
        ours, theirs = RNN(5, 7, nonlinearity=kind[4:], **kw), torch.nn.RNN(5, 7, nonlinearity=kind[4:], **kw)
    else:
        ours = {"lstm": LSTM, "gru": GRU}[kind](5, 7, **kw)
        theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](5, 7, **kw)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    cell_cls = {"rnn_tanh": (RNNCell, torch.nn.RNNCell), "rnn_relu": (RNNCell, torch.nn.RNNCell),
                "lstm": (LSTMCell, torch.nn.LSTMCell), "gru": (GRUCell, torch.nn.GRUCell)}[kind]
    ours_c, theirs_c = cell_cls[0](5, 7, bias=bias), cell_cls[1](5, 7, bias=bias)
    assert [(k, tuple(v.shape)) for k, v in ours_c.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs_c.state_dict().items()]


# --- cells ------------------------------------------------------------------------------------------
def make_cells(kind, I, H, bias):
    if kind.startswith("rnn"):
        nl = kind[4:]
        ours = RNNCell(I, H, bias=bias, nonlinearity=nl, dtype=np.float64)
        theirs = torch.nn.RNNCell(I, H, bias=bias, nonlinearity=nl).double()
    else:
        ours = {"lstm": LSTMCell, "gru": GRUCell}[kind](I, H, bias=bias, dtype=np.float64)
        theirs = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](I, H, bias=bias).double()
    load_into_torch(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cell_matches_torch(kind, batched, bias, with_hx):
    I, H, B = 4, 3, 3
    ours, theirs = make_cells(kind, I, H, bias)
    rng = np.random.default_rng(0)
    lead = (B,) if batched else ()
    xa = rng.standard_normal(lead + (I,))
    sa = [rng.standard_normal(lead + (H,)) for _ in range(2 if kind == "lstm" else 1)] if with_hx else []
    x, xt = t64(xa, True), th(xa, True)
    s, st = [t64(a, True) for a in sa], [th(a, True) for a in sa]
    hx = None if not s else (tuple(s) if kind == "lstm" else s[0])
    hxt = None if not st else (tuple(st) if kind == "lstm" else st[0])
    out, out_t = ours(x, hx), theirs(xt, hxt)
    outs, outs_t = (list(out), list(out_t)) if kind == "lstm" else ([out], [out_t])
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


# --- layers -----------------------------------------------------------------------------------------
def cfg(T=5, B=3, I=4, H=3, num_layers=1, bidirectional=False, batch_first=False, lengths=None, h0=False,
        bias=True):
    return dict(T=T, B=B, I=I, H=H, num_layers=num_layers, bidirectional=bidirectional,
                batch_first=batch_first, lengths=lengths, h0=h0, bias=bias)


CASES = {
    "plain": cfg(),
    "two_layers_h0": cfg(num_layers=2, h0=True),
    "bidirectional_two_layers_h0": cfg(num_layers=2, bidirectional=True, h0=True),
    "batch_first_bidirectional": cfg(batch_first=True, bidirectional=True, h0=True),
    "unbatched_h0": cfg(B=None, num_layers=2, bidirectional=True, h0=True),
    "unbatched": cfg(B=None),
    "no_bias": cfg(bias=False, num_layers=2, h0=True),
    "lengths": cfg(T=6, B=4, lengths=[6, 2, 4, 1], h0=True),
    "lengths_bidir_deep_batch_first": cfg(T=6, B=4, num_layers=2, bidirectional=True, batch_first=True,
                                          lengths=[3, 6, 1, 5], h0=True),
    "lengths_all_full": cfg(T=4, B=2, bidirectional=True, lengths=[4, 4]),
}


def make_layers(kind, impl, c):
    kw = dict(num_layers=c["num_layers"], bias=c["bias"], batch_first=c["batch_first"],
              bidirectional=c["bidirectional"])
    if kind.startswith("rnn"):
        ours = RNN(c["I"], c["H"], nonlinearity=kind[4:], impl=impl, dtype=np.float64, **kw)
        theirs = torch.nn.RNN(c["I"], c["H"], nonlinearity=kind[4:], **kw).double()
    else:
        ours = {"lstm": LSTM, "gru": GRU}[kind](c["I"], c["H"], impl=impl, dtype=np.float64, **kw)
        theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](c["I"], c["H"], **kw).double()
    load_into_torch(ours, theirs)
    return ours, theirs


def run_torch(kind, theirs, c, xt, st):
    hx = None if not st else (tuple(st) if kind == "lstm" else st[0])
    if c["lengths"] is None:
        out, hn = theirs(xt, hx)
    else:
        packed = pack_padded_sequence(xt, torch.tensor(c["lengths"]), batch_first=c["batch_first"],
                                      enforce_sorted=False)
        out, hn = theirs(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=c["batch_first"], total_length=c["T"])
    return out, as_list(kind, hn)


def layer_data(kind, c, seed=0):
    rng = np.random.default_rng(seed)
    T, B = c["T"], c["B"]
    xshape = (T, c["I"]) if B is None else ((B, T, c["I"]) if c["batch_first"] else (T, B, c["I"]))
    L = c["num_layers"] * (2 if c["bidirectional"] else 1)
    sshape = (L, c["H"]) if B is None else (L, B, c["H"])
    xa = rng.standard_normal(xshape)
    sa = [0.5 * rng.standard_normal(sshape) for _ in range(2 if kind == "lstm" else 1)] if c["h0"] else []
    return rng, xa, sa


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch(kind, impl, case):
    c = CASES[case]
    ours, theirs = make_layers(kind, impl, c)
    rng, xa, sa = layer_data(kind, c)
    x, xt = t64(xa, True), th(xa, True)
    s, st = [t64(a, True) for a in sa], [th(a, True) for a in sa]
    out, hn = ours(x, None if not s else (tuple(s) if kind == "lstm" else s[0]), lengths=c["lengths"])
    finals = as_list(kind, hn)
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
    hx = None if not s else (tuple(s) if kind == "lstm" else s[0])

    ours.eval()
    theirs.eval()
    with autograd.no_grad(), torch.no_grad():
        out_e1, hn_e1 = ours(x, hx)
        out_e2, _ = ours(x, hx)
        out_t, finals_t = run_torch(kind, theirs, c, xt, st)
    np.testing.assert_array_equal(out_e1._data, out_e2._data)
    assert_close(out_e1._data, out_t, "eval output")
    for f, ft in zip(as_list(kind, hn_e1), finals_t):
        assert_close(f._data, ft, "eval final state")

    ours.train()
    with autograd.no_grad():
        out_a, hn_a = ours(x, hx)
        out_b, _ = ours(x, hx)
    assert np.abs(out_a._data - out_b._data).max() > 1e-3
    assert np.abs(out_a._data - out_e1._data).max() > 1e-3
    # dropout acts between layers: the first layer's final state is untouched, the later ones are not
    h_a = as_list(kind, hn_a)[0]._data
    assert_close(h_a[0], finals_t[0][0], "train-mode first-layer state")
    assert np.abs(h_a[1] - finals_t[0][1].numpy()).max() > 1e-3
    np.testing.assert_array_equal(out_a._data[-1], h_a[-1])  # the last layer's output is not dropped
