"""PyTorch parity for nn: the same state dict gives the same outputs and gradients in float64."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import init
from tinygrad_rnn.nn.utils import clip_grad_norm_

torch = pytest.importorskip("torch")


def to_torch_state(module):
    return {k: torch.from_numpy(v._data.copy()) for k, v in module.state_dict().items()}


def run_both(ours, theirs, x_np, upstream_np, index_input=False):
    """Forward both on the same input, backward the same upstream gradient; return outputs and grads."""
    if index_input:
        x, tx = tg.tensor(x_np), torch.from_numpy(x_np)
    else:
        x = tg.tensor(x_np, requires_grad=True)
        tx = torch.from_numpy(x_np.copy()).requires_grad_(True)
    out, tout = ours(x), theirs(tx)
    out.backward(tg.tensor(upstream_np))
    tout.backward(torch.from_numpy(upstream_np))
    np.testing.assert_allclose(out._data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    if not index_input:
        np.testing.assert_allclose(x.grad._data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    tg.manual_seed(0)
    ours = nn.Linear(5, 3, bias=bias, dtype=np.float64)
    theirs = torch.nn.Linear(5, 3, bias=bias, dtype=torch.float64)
    theirs.load_state_dict(to_torch_state(ours))
    rng = np.random.default_rng(0)
    run_both(ours, theirs, rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 4, 3)))


def test_embedding_with_padding_matches_torch():
    tg.manual_seed(0)
    ours = nn.Embedding(7, 4, padding_idx=3, dtype=np.float64)
    theirs = torch.nn.Embedding(7, 4, padding_idx=3, dtype=torch.float64)
    theirs.load_state_dict(to_torch_state(ours))
    idx = np.array([[3, 1, 1, 6], [0, 3, 6, 6]], dtype=np.int64)
    run_both(ours, theirs, idx, np.random.default_rng(1).standard_normal((2, 4, 4)), index_input=True)


@pytest.mark.parametrize("shape", [6, (2, 3)])
def test_layer_norm_matches_torch(shape):
    tg.manual_seed(0)
    ours = nn.LayerNorm(shape, eps=1e-3, dtype=np.float64)
    init.normal_(ours.weight)
    init.normal_(ours.bias)
    theirs = torch.nn.LayerNorm(shape, eps=1e-3, dtype=torch.float64)
    theirs.load_state_dict(to_torch_state(ours))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6)) if shape == 6 else rng.standard_normal((4, 2, 3))
    run_both(ours, theirs, x * 3 + 1, rng.standard_normal(x.shape))


@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = tg.tensor(g)
        tp.grad = torch.from_numpy(g.copy())
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-12)


def test_orthogonal_is_orthogonal_like_torch():
    tg.manual_seed(0)
    ours = init.orthogonal_(tg.zeros(12, 3, dtype=np.float64))._data
    theirs = torch.nn.init.orthogonal_(torch.empty(12, 3, dtype=torch.float64)).numpy()
    for q in (ours, theirs):
        np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)


def test_state_dict_keys_match_torch():
    ours = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Sequential(nn.Linear(8, 2), nn.ReLU()),
                         nn.Embedding(3, 2), nn.Flatten(), nn.Dropout(), nn.Identity(), nn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Tanh(),
                                 torch.nn.Sequential(torch.nn.Linear(8, 2), torch.nn.ReLU()),
                                 torch.nn.Embedding(3, 2), torch.nn.Flatten(), torch.nn.Dropout(),
                                 torch.nn.Identity(), torch.nn.Sigmoid())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == shapes
    theirs.load_state_dict(to_torch_state(ours))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
