"""The Transformer modules (nn/transformer.py) against PyTorch's: the same parameters (copied through
state_dict, whose keys must match), inputs and masks give the same outputs and gradients of the
inputs and every parameter, in float64 (dropout 0, training mode: PyTorch's own reference path)."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from optional_torch import needs_torch, torch
E, H, FF = 8, 2, 16


def _t(L, shape, seed):
    return L.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=L.float64, requires_grad=True)


def _layer_options(**extra):
    return dict(d_model=E, nhead=H, dim_feedforward=FF, dropout=0.0, **extra)


CASES = {  # name: (make(nn) -> module, call(L, module) -> output)
    "encoder_layer": (lambda n: n.TransformerEncoderLayer(**_layer_options()),
                      lambda L, m: m(_t(L, (5, 2, E), 0))),
    "encoder_layer_norm_first_gelu_mask": (
        lambda n: n.TransformerEncoderLayer(**_layer_options(norm_first=True, activation="gelu")),
        lambda L, m: m(_t(L, (5, 2, E), 0), src_key_padding_mask=L.tensor([[False] * 4 + [True], [False] * 5]))),
    "encoder_layer_batch_first_causal": (
        lambda n: n.TransformerEncoderLayer(**_layer_options(batch_first=True)),
        lambda L, m: m(_t(L, (2, 5, E), 0), src_mask=L.tensor(np.triu(np.full((5, 5), -np.inf), 1)))),
    "decoder_layer": (lambda n: n.TransformerDecoderLayer(**_layer_options()),
                      lambda L, m: m(_t(L, (4, 2, E), 0), _t(L, (6, 2, E), 1),
                                     tgt_mask=L.tensor(np.triu(np.ones((4, 4), bool), 1)),
                                     memory_key_padding_mask=L.tensor([[False] * 5 + [True], [False] * 6]))),
    "decoder_layer_norm_first": (lambda n: n.TransformerDecoderLayer(**_layer_options(norm_first=True, bias=False)),
                                 lambda L, m: m(_t(L, (4, 2, E), 0), _t(L, (6, 2, E), 1))),
    "encoder_stack": (lambda n: n.TransformerEncoder(n.TransformerEncoderLayer(**_layer_options()), 2,
                                                     n.LayerNorm(E)),
                      lambda L, m: m(_t(L, (5, 2, E), 0))),
    "transformer": (lambda n: n.Transformer(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
                                            dim_feedforward=FF, dropout=0.0),
                    lambda L, m: m(_t(L, (5, 2, E), 0), _t(L, (4, 2, E), 1),
                                   tgt_mask=m.generate_square_subsequent_mask(4).double())),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    make, call = CASES[name]
    torch.manual_seed(0)
    theirs = make(torch.nn).double()
    ours = make(nn).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    results = []
    for L, module in ((tg, ours), (torch, theirs)):
        out = call(L, module)
        out.backward(L.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape))))
        results.append([out.detach().numpy()] + [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_layers_are_independent_copies_and_the_mask_is_pytorchs():
    stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF), 3)
    assert len({id(layer.linear1.weight) for layer in stack.layers}) == 3
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    np.testing.assert_array_equal(mask, np.triu(np.full((3, 3), -np.inf), 1))
    with pytest.raises(ValueError, match="relu/gelu"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")


def test_gradcheck_of_the_layers_without_torch():
    from tinygrad_rnn import gradcheck
    encoder = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True, dtype=tg.float64)
    decoder = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, activation="gelu", dtype=tg.float64)
    src = tg.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    tgt = tg.tensor(np.random.default_rng(1).standard_normal((2, 2, 4)), requires_grad=True)
    mask = tg.tensor(np.triu(np.ones((2, 2), bool), 1))
    assert gradcheck(lambda s, t: decoder(t, encoder(s), tgt_mask=mask), [src, tgt])
