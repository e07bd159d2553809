"""1-D convolution and pooling (nn/conv.py) against PyTorch's: outputs and the gradients of the
input, weight and bias in float64, over strides, paddings (modes too), dilations and groups;
gradcheck; errors."""
import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional as tgF
from tinygrad_rnn import gradcheck, nn

from optional_torch import lib_functional as _F, needs_torch, torch


CONV = [  # constructor kwargs, input shape
    (dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 9)),
    (dict(in_channels=3, out_channels=2, kernel_size=2, stride=2, padding=1), (2, 3, 8)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, groups=2), (1, 4, 11)),
    (dict(in_channels=2, out_channels=2, kernel_size=4, padding="same", bias=False), (3, 2, 7)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid"), (3, 2, 5)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding=2, padding_mode="reflect"), (2, 2, 6)),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, padding_mode="circular", groups=2), (2, 2, 5)),
    (dict(in_channels=3, out_channels=3, kernel_size=5, padding=2, padding_mode="replicate", groups=3), (2, 3, 6)),
    (dict(in_channels=3, out_channels=2, kernel_size=3), (3, 7)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", padding_mode="reflect"), (2, 2, 5)),
    (dict(in_channels=2, out_channels=2, kernel_size=4, padding="same", padding_mode="replicate"), (2, 2, 6)),
    (dict(in_channels=2, out_channels=2, kernel_size=5, padding="same", padding_mode="circular", dilation=1),
     (1, 2, 6)),
]


@needs_torch
@pytest.mark.parametrize("kwargs, shape", CONV, ids=[str(i) for i in range(len(CONV))])
def test_conv1d_matches_torch(kwargs, shape):
    torch.manual_seed(0)
    theirs = torch.nn.Conv1d(**kwargs).double()
    ours = nn.Conv1d(**kwargs, dtype=tg.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal(shape)
    results = []
    for L, module in ((tg, ours), (torch, theirs)):
        xs = L.tensor(x, requires_grad=True)
        y = module(xs)
        y.backward(L.tensor(np.random.default_rng(2).standard_normal(tuple(y.shape))))
        results.append([y.detach().numpy(), xs.grad.numpy()] + [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


POOL = [  # fn(F, x), input shape
    (lambda F, x: F.max_pool1d(x, 3), (2, 3, 10)),
    (lambda F, x: F.max_pool1d(x, 3, stride=2, padding=1), (2, 3, 9)),
    (lambda F, x: F.max_pool1d(x, 2, stride=2, ceil_mode=True), (2, 2, 7)),
    (lambda F, x: F.max_pool1d(x, 3, stride=1, dilation=2), (1, 2, 9)),
    (lambda F, x: F.max_pool1d(x, 3, stride=2, padding=1, return_indices=True)[0], (2, 2, 8)),
    (lambda F, x: F.avg_pool1d(x, 3), (2, 3, 10)),
    (lambda F, x: F.avg_pool1d(x, 4, stride=2, padding=2), (2, 2, 9)),
    (lambda F, x: F.avg_pool1d(x, 4, stride=2, padding=2, count_include_pad=False), (2, 2, 9)),
    (lambda F, x: F.avg_pool1d(x, 3, stride=2, ceil_mode=True), (2, 2, 8)),
    (lambda F, x: F.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 8)),
    (lambda F, x: F.adaptive_avg_pool1d(x, 4), (2, 3, 10)),
    (lambda F, x: F.adaptive_avg_pool1d(x, 3), (2, 3, 3)),
    (lambda F, x: F.max_pool1d(x, 2), (3, 6)),
]


@needs_torch
@pytest.mark.parametrize("fn, shape", POOL, ids=[str(i) for i in range(len(POOL))])
def test_pooling_matches_torch(fn, shape):
    x = np.random.default_rng(3).permutation(int(np.prod(shape))).reshape(shape) / 7.0  # no ties
    results = []
    for L in (tg, torch):
        xs = L.tensor(x, requires_grad=True)
        y = fn(_F(L), xs)
        y.backward(L.tensor(np.random.default_rng(4).standard_normal(tuple(y.shape))))
        results.append([y.detach().numpy(), xs.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@needs_torch
def test_max_pool_indices_and_modules_match_torch():
    x = np.random.default_rng(5).permutation(32).reshape(2, 2, 8).astype(np.float64)
    ours = tgF.max_pool1d(tg.tensor(x), 3, stride=2, padding=1, return_indices=True)[1]
    theirs = torch.nn.functional.max_pool1d(torch.tensor(x), 3, stride=2, padding=1, return_indices=True)[1]
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for make in (lambda L: L.nn.MaxPool1d(3, 2), lambda L: L.nn.AvgPool1d(2), lambda L: L.nn.AdaptiveAvgPool1d(3)):
        np.testing.assert_allclose(make(tg)(tg.tensor(x)).numpy(), make(torch)(torch.tensor(x)).numpy())
        assert repr(make(tg)) == repr(make(torch))


def test_conv1d_gradcheck():
    x = tg.tensor(np.random.default_rng(0).standard_normal((2, 4, 7)), requires_grad=True)
    w = tg.tensor(np.random.default_rng(1).standard_normal((6, 2, 3)), requires_grad=True)
    b = tg.tensor(np.random.default_rng(2).standard_normal(6), requires_grad=True)
    assert gradcheck(lambda a, c, d: tgF.conv1d(a, c, d, stride=2, padding=1, dilation=2, groups=2), [x, w, b])


@pytest.mark.parametrize("call, error, words", [
    (lambda: tgF.conv1d(tg.ones(1, 3, 5), tg.ones(2, 2, 3)), ValueError, "do not match"),
    (lambda: tgF.conv1d(tg.ones(1, 2, 2), tg.ones(2, 2, 3)), ValueError, "shorter than the kernel"),
    (lambda: tgF.conv1d(tg.ones(1, 2, 5), tg.ones(2, 2, 3), stride=2, padding="same"), ValueError, "strided"),
    (lambda: tgF.conv1d(tg.ones(5), tg.ones(2, 2, 3)), ValueError, "2-D"),
    (lambda: nn.Conv1d(3, 2, 3, groups=2), ValueError, "divisible by groups"),
    (lambda: nn.Conv1d(2, 2, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: tgF.max_pool1d(tg.ones(1, 1, 6), 2, padding=2), ValueError, "at most half"),
    (lambda: tgF.conv1d(tg.ones(1, 2, 5), tg.ones(2, 2, 3), padding=-1), ValueError, "negative padding"),
    (lambda: nn.Conv1d(2, 2, 3, padding="full"), ValueError, "invalid padding string"),
    (lambda: nn.Conv1d(2, 2, 3, stride=2, padding="same"), ValueError, "strided"),
])
def test_bad_arguments_raise_clear_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()
