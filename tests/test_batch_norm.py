"""Batch normalisation (nn/batch_norm.py) against PyTorch's: outputs, input and parameter
gradients, and the running statistics over several training steps then in eval, in float64."""
import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional as tgF
from tinygrad_rnn import gradcheck, nn

from optional_torch import needs_torch, torch

CASES = [  # (layer, constructor kwargs, input shape)
    ("BatchNorm1d", dict(num_features=3), (5, 3)),
    ("BatchNorm1d", dict(num_features=3, momentum=0.3, eps=1e-3), (4, 3, 6)),
    ("BatchNorm1d", dict(num_features=3, momentum=None), (4, 3)),
    ("BatchNorm1d", dict(num_features=3, affine=False), (4, 3, 2)),
    ("BatchNorm1d", dict(num_features=3, bias=False), (4, 3)),
    ("BatchNorm1d", dict(num_features=3, track_running_stats=False), (4, 3)),
    ("BatchNorm2d", dict(num_features=2), (3, 2, 4, 5)),
    ("BatchNorm3d", dict(num_features=2, momentum=0.5), (2, 2, 3, 2, 2)),
]


@needs_torch
@pytest.mark.parametrize("layer, kwargs, shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_training_and_eval_match_torch(layer, kwargs, shape):
    theirs = getattr(torch.nn, layer)(**kwargs).double()
    ours = getattr(nn, layer)(**kwargs, dtype=tg.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2, kwargs["num_features"])))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for step in range(4):
        x = rng.standard_normal(shape) * 3 + 1
        g = rng.standard_normal(shape)
        for module in (ours, theirs):
            module.train(step < 3)
        results = []
        for L, module in ((tg, ours), (torch, theirs)):
            xs = L.tensor(x, requires_grad=True)
            y = module(xs)
            y.backward(L.tensor(g))
            results.append([y.detach().numpy(), xs.grad.numpy()] + [p.grad.numpy() for p in module.parameters()]
                           + [b.numpy() for b in module.buffers()])
            for p in module.parameters():
                p.grad = None
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_batch_norm_gradcheck_in_training_and_eval():
    x = tg.tensor(np.random.default_rng(0).standard_normal((4, 3, 2)), requires_grad=True)
    w = tg.tensor([1.5, 0.5, 2.0], dtype=tg.float64, requires_grad=True)
    b = tg.tensor([0.1, -0.2, 0.3], dtype=tg.float64, requires_grad=True)
    mean, var = tg.zeros(3, dtype=tg.float64), tg.ones(3, dtype=tg.float64)
    assert gradcheck(lambda a, c, d: tgF.batch_norm(a, None, None, c, d, training=True), [x, w, b])
    assert gradcheck(lambda a, c, d: tgF.batch_norm(a, mean, var, c, d), [x, w, b])


@pytest.mark.parametrize("call, error, words", [
    (lambda: nn.BatchNorm1d(3)(tg.ones(2, 4)), ValueError, "running_mean must have shape"),
    (lambda: nn.BatchNorm1d(3)(tg.ones(1, 3)), ValueError, "more than 1 value per channel"),
    (lambda: nn.BatchNorm2d(3)(tg.ones(2, 3, 4)), ValueError, "expected 4-D input"),
    (lambda: tgF.batch_norm(tg.ones(2, 3), None, None), ValueError, "needed when not training"),
    (lambda: tgF.batch_norm(tg.ones(2, 3), None, None, training=True, momentum=None), TypeError, "momentum"),
])
def test_bad_input_raises_clear_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()
