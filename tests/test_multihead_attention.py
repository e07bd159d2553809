"""nn.MultiheadAttention (nn/multihead_attention.py) against PyTorch's: the same parameters (copied
through state_dict), inputs and masks give the same outputs, attention weights and gradients of
the inputs and every parameter, in float64."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import gradcheck, nn

from optional_torch import needs_torch, torch

L_, S_, N_ = 3, 4, 2


def _t(L, shape, seed):
    return L.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=L.float64, requires_grad=True)


CASES = {  # name: (constructor kwargs, fn(L, module) -> (output, weights))
    "plain": (dict(embed_dim=4, num_heads=2),
              lambda L, m: m(_t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2))),
    "self_attention_one_head": (dict(embed_dim=6, num_heads=1), lambda L, m: (lambda x: m(x, x, x))(
        _t(L, (L_, N_, 6), 0))),
    "batch_first": (dict(embed_dim=4, num_heads=2, batch_first=True), lambda L, m: m(
        _t(L, (N_, L_, 4), 0), _t(L, (N_, S_, 4), 1), _t(L, (N_, S_, 4), 2))),
    "kdim_vdim": (dict(embed_dim=4, num_heads=2, kdim=3, vdim=5), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 3), 1), _t(L, (S_, N_, 5), 2))),
    "no_bias": (dict(embed_dim=4, num_heads=2, bias=False), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2))),
    "bias_kv_and_zero_attn": (dict(embed_dim=4, num_heads=2, add_bias_kv=True, add_zero_attn=True),
                              lambda L, m: m(_t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2),
                                             key_padding_mask=L.tensor([[False, False, True, False],
                                                                        [False, True, True, False]]))),
    "key_padding_mask": (dict(embed_dim=4, num_heads=2), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2),
        key_padding_mask=L.tensor([[False, False, True, True], [False, False, False, True]]))),
    "bool_attn_mask": (dict(embed_dim=4, num_heads=2), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2),
        attn_mask=L.tensor(np.triu(np.ones((L_, S_), bool), 1)))),
    "float_attn_mask_per_head": (dict(embed_dim=4, num_heads=2), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2),
        attn_mask=L.tensor(np.random.default_rng(5).standard_normal((N_ * 2, L_, S_)), dtype=L.float64))),
    "both_masks_heads_weights": (dict(embed_dim=4, num_heads=2), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2),
        key_padding_mask=L.tensor([[False, True, False, False], [False, False, False, True]]),
        attn_mask=L.tensor(np.random.default_rng(5).standard_normal((L_, S_)), dtype=L.float64),
        average_attn_weights=False)),
    "unbatched": (dict(embed_dim=4, num_heads=2),
                  lambda L, m: m(_t(L, (L_, 4), 0), _t(L, (S_, 4), 1), _t(L, (S_, 4), 2))),
    "no_weights": (dict(embed_dim=4, num_heads=2), lambda L, m: m(
        _t(L, (L_, N_, 4), 0), _t(L, (S_, N_, 4), 1), _t(L, (S_, N_, 4), 2), need_weights=False)),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    kwargs, call = CASES[name]
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(**kwargs).double()
    ours = nn.MultiheadAttention(**kwargs, dtype=tg.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    results = []
    for L, module in ((tg, ours), (torch, theirs)):
        out, weights = call(L, module)
        loss = (out * L.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)), dtype=L.float64)).sum()
        if weights is not None:
            loss = loss + (weights * L.arange(float(weights.numel()), dtype=L.float64).reshape(*weights.shape)).sum()
        loss.backward()
        results.append([out.detach().numpy(), None if weights is None else weights.detach().numpy()] +
                       [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gradcheck_and_is_causal():
    m = nn.MultiheadAttention(4, 2, dtype=tg.float64)
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    assert gradcheck(lambda a: m(a, a, a)[0], [x])
    causal = m(x, x, x, is_causal=True)[0]
    explicit = m(x, x, x, attn_mask=tg.tensor(np.triu(np.ones((3, 3), bool), 1)))[0]
    np.testing.assert_array_equal(causal.detach().numpy(), explicit.detach().numpy())


@pytest.mark.parametrize("call, words", [
    (lambda: nn.MultiheadAttention(5, 2), "multiple of num_heads"),
    (lambda: nn.MultiheadAttention(4, 2)(tg.ones(3, 2, 4), tg.ones(4, 1, 4), tg.ones(4, 1, 4)), "of one S and N"),
    (lambda: nn.MultiheadAttention(4, 2)(tg.ones(3, 2, 4), tg.ones(4, 2, 4), tg.ones(4, 2, 4),
                                         key_padding_mask=tg.ones(2, 3).bool()), "key_padding_mask"),
    (lambda: nn.MultiheadAttention(4, 2)(tg.ones(3, 2, 4), tg.ones(4, 2, 4), tg.ones(4, 2, 4),
                                         attn_mask=tg.ones(3, 3).bool()), "attn_mask"),
])
def test_bad_arguments_raise_clear_errors(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@needs_torch
def test_a_row_with_nothing_to_attend_to_is_zero_without_weights_as_torchs():
    results = []
    for L, lib_nn in ((tg, nn), (torch, torch.nn)):
        torch.manual_seed(0)
        module = torch.nn.MultiheadAttention(4, 2).double()
        ours = nn.MultiheadAttention(4, 2, dtype=tg.float64)
        ours.load_state_dict({k: v.numpy() for k, v in module.state_dict().items()})
        m = ours if L is tg else module
        x = _t(L, (3, 1, 4), 0)
        mask = L.tensor([[False, True, True], [True, True, True], [False, False, True]])
        out = m(x, x, x, attn_mask=mask, need_weights=False)[0]
        out.sum().backward()
        results.append((out.detach().numpy(), x.grad.numpy()))
    assert np.isfinite(results[0][0]).all()
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_training_dropout_drops_the_returned_weights():
    tg.manual_seed(0)
    m = nn.MultiheadAttention(4, 1, dropout=0.5, dtype=tg.float64)
    x = _t(tg, (6, 1, 4), 0)
    weights = m(x, x, x)[1].detach().numpy()
    assert (weights == 0).any() and not np.allclose(weights.sum(-1), 1.0)
    m.eval()
    np.testing.assert_allclose(m(x, x, x)[1].detach().numpy().sum(-1), 1.0)
