"""Dot-product attention against torch.nn.functional.scaled_dot_product_attention (float64, scale
1/√D, a boolean key padding mask): outputs and the gradients of query, keys and values."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("lengths", [None, [6, 3, 1]])
def test_dot_attention_matches_scaled_dot_product_attention(lengths):
    rng = np.random.default_rng(0)
    B, T, S, D, Dv = 3, 4, 6, 5, 2
    arrays = [rng.standard_normal(s) for s in ((B, T, D), (B, S, D), (B, S, Dv))]
    upstream = rng.standard_normal((B, T, Dv))
    ours = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    context, _ = F.dot_attention(*ours, lengths=lengths, scale=1 / np.sqrt(D))
    (context * tg.tensor(upstream)).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    mask = None if lengths is None else torch.arange(S)[None, None, :] < torch.tensor(lengths)[:, None, None]
    out = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=mask, scale=1 / np.sqrt(D))
    (out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(context.detach().numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
