"""nn.utils.rnn (pad/pack/unpack) and recurrent layers on PackedSequence, against PyTorch's, in float64:
the packed layout itself (data, batch_sizes, sorted/unsorted indices), outputs, final states and
gradients, with sorted and unsorted lengths; gradchecks of the gathers."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                       pad_sequence, unpack_sequence, unpad_sequence)

torch = pytest.importorskip("torch")
from torch.nn.utils import rnn as trnn  # noqa: E402

from recurrent_table import (IMPLS, NONEMPTY_EDGES, at_edge, cfg, input_shape, layer_from_cfg, make_layer,  # noqa: E402
                             pack_hx, state_shape, torch_twin)

TOL = 1e-12
UNSORTED = [3, 5, 1, 4]  # distinct, so the sorted order is unambiguous in both libraries


def pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=TOL, atol=TOL)


def same_layout(ours, theirs):
    close(ours.data, theirs.data)
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    for a, b in ((ours.sorted_indices, theirs.sorted_indices), (ours.unsorted_indices, theirs.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch_values_and_gradients(batch_first, padding_side):
    seqs = [pair((n, 2), seed=n) for n in (2, 4, 1)]
    ours = pad_sequence([s for s, _ in seqs], batch_first, -1.5, padding_side)
    theirs = trnn.pad_sequence([s for _, s in seqs], batch_first, -1.5, padding_side)
    close(ours, theirs)
    w = np.random.default_rng(9).standard_normal(ours.shape)
    (ours * tg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    for s, t in seqs:
        close(s.grad, t.grad)


@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 4, 4, 2], True), (UNSORTED, False), ([5, 4, 3, 1], False)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_sequence_layout_matches_torch(lengths, enforce_sorted, batch_first):
    shape = (4, 5, 3) if batch_first else (5, 4, 3)
    ours, theirs = pair(shape)
    po = pack_padded_sequence(ours, lengths, batch_first, enforce_sorted)
    pt = trnn.pack_padded_sequence(theirs, torch.tensor(lengths), batch_first, enforce_sorted)
    same_layout(po, pt)
    for total_length in (None, 7):
        padded, lens = pad_packed_sequence(po, batch_first, padding_value=2.0, total_length=total_length)
        tpadded, tlens = trnn.pad_packed_sequence(pt, batch_first, padding_value=2.0, total_length=total_length)
        close(padded, tpadded)
        np.testing.assert_array_equal(lens.numpy(), tlens.numpy())
    (padded * padded).sum().backward()
    (tpadded * tpadded).sum().backward()
    close(ours.grad, theirs.grad)  # zero at padding positions in both


def test_pack_sequence_unsorted_round_trip_and_layout():
    seqs = [pair((n, 2), seed=n) for n in UNSORTED]
    po = pack_sequence([s for s, _ in seqs], enforce_sorted=False)
    same_layout(po, trnn.pack_sequence([s for _, s in seqs], enforce_sorted=False))
    for (s, _), back in zip(seqs, unpack_sequence(po)):
        np.testing.assert_array_equal(back.detach().numpy(), s.detach().numpy())
    padded = pad_sequence([s for s, _ in seqs])
    for (s, _), back in zip(seqs, unpad_sequence(padded, UNSORTED)):
        np.testing.assert_array_equal(back.detach().numpy(), s.detach().numpy())


def test_enforce_sorted_refuses_unsorted_lengths_and_bad_lengths_are_named():
    x = tg.randn(5, 4, 3)
    with pytest.raises(ValueError, match="decreasing order.*enforce_sorted=False"):
        pack_padded_sequence(x, UNSORTED)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\]"):
        pack_padded_sequence(x, [6, 4, 3, 1])
    with pytest.raises(ValueError, match=r"lengths of shape \(4,\)"):
        pack_padded_sequence(x, [5, 4])
    with pytest.raises(TypeError, match="lengths must be integers"):
        pack_padded_sequence(x, [5.0, 4.0, 3.0, 1.0])
    with pytest.raises(TypeError, match="PackedSequence"):
        pad_packed_sequence(x)


def test_packing_gathers_pass_gradcheck():
    x = tg.tensor(np.random.default_rng(1).standard_normal((4, 3, 2)), requires_grad=True)
    assert tg.gradcheck(lambda x: pad_packed_sequence(pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False),
                                                      padding_value=0.5)[0], (x,))
    assert tg.gradcheck(lambda x: pad_sequence([x[:3, 0], x[:, 1]], batch_first=True), (x,))


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional,num_layers,batch_first", [(False, 1, False), (True, 2, True)])
@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 4, 2, 1], True), (UNSORTED, False)])
def test_recurrent_layers_on_packed_sequences_match_torch(kind, impl, bidirectional, num_layers, batch_first,
                                                          lengths, enforce_sorted):
    c = cfg(T=5, B=4, I=3, H=4, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
            lengths=lengths)
    assert_packed_layer_matches_torch(kind, impl, c, enforce_sorted)


@pytest.mark.parametrize("edge", NONEMPTY_EDGES)  # PyTorch cannot pack an empty batch
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_layers_on_packed_sequences_match_torch_at_edges(kind, impl, edge):
    c = at_edge(cfg(T=5, B=4, I=3, H=4, num_layers=2, bidirectional=True, batch_first=True, lengths=UNSORTED), edge)
    lengths = list(c["lengths"])
    assert_packed_layer_matches_torch(kind, impl, c, enforce_sorted=lengths == sorted(lengths, reverse=True))


def assert_packed_layer_matches_torch(kind, impl, c, enforce_sorted):
    """Packed output layout, final states and every gradient of our layer and its PyTorch twin."""
    lengths, batch_first = c["lengths"], c["batch_first"]
    ours = layer_from_cfg(kind, impl, c)
    theirs = torch_twin(ours)
    x, tx = pair(input_shape(c))
    h0, th0 = pair(state_shape(c), seed=2)
    hx, thx = pack_hx(kind, [h0, h0 * 0.5]), pack_hx(kind, [th0, th0 * 0.5])
    out, state = ours(pack_padded_sequence(x, lengths, batch_first, enforce_sorted), hx)
    tout, tstate = theirs(trnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first, enforce_sorted), thx)
    assert isinstance(out, PackedSequence)
    same_layout(out, tout)
    states = (state, tstate) if kind != "lstm" else (tg.stack(state), torch.stack(tstate))
    close(*states)
    w = np.random.default_rng(3).standard_normal(out.data.shape)
    ((out.data * tg.tensor(w)).sum() + (states[0] * states[0]).sum()).backward()
    ((tout.data * torch.tensor(w)).sum() + (states[1] * states[1]).sum()).backward()
    close(x.grad, tx.grad)
    close(h0.grad, th0.grad)
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad)


def test_packed_input_and_lengths_together_are_refused():
    lstm = tg.nn.LSTM(3, 4)
    packed = pack_padded_sequence(tg.randn(5, 2, 3), [5, 3])
    with pytest.raises(ValueError, match="PackedSequence carries its lengths"):
        lstm(packed, lengths=[5, 3])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("impl", IMPLS)
def test_packed_forward_passes_gradcheck(kind, impl):
    layer = make_layer(kind, 2, 3, impl, bidirectional=True)
    x = tg.tensor(np.random.default_rng(4).standard_normal((4, 3, 2)), requires_grad=True)

    def run(x, *params):
        out, state = layer(pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False))
        return tg.cat([out.data.reshape(-1), (tg.stack(state) if kind == "lstm" else state).reshape(-1)])

    assert tg.gradcheck(run, (x, *layer.parameters()), mode="projection")


@pytest.mark.parametrize("shape", [(4, 0, 3), (0, 2, 3)])
def test_packing_an_empty_batch_is_refused_as_in_pytorch(shape):
    with pytest.raises(ValueError, match="cannot pack an empty batch") as err:
        pack_padded_sequence(tg.zeros(*shape), np.zeros(shape[1], np.int64))
    assert isinstance(err.value, RuntimeError)  # PyTorch raises RuntimeError("Cannot pack empty tensors")
