"""The small numba kernels (softmax family, cross entropy, scatter-add, pointwise) against plain NumPy
references computed in float64, and against PyTorch where it is installed.

Also run under NUMBA_DISABLE_JIT=1 (the plain-Python path)."""
import math

import numpy as np
import pytest

from tinygrad_rnn.kernels import pointwise as P
from tinygrad_rnn.kernels import scatter as S
from tinygrad_rnn.kernels import softmax as K

# (dtype, rtol): float64 must match to libm precision, float32 to a few ulp.
DTYPES = [(np.float64, 1e-13), (np.float32, 2e-6)]
SHAPES = [(0, 5), (1, 1), (4, 1), (3, 4), (7, 65)]


def close(got, ref, dtype, rtol, scale=1.0, out_dtype=None):
    """Relative check, with an absolute floor proportional to the size of the inputs."""
    assert got.dtype == (out_dtype or dtype) and got.shape == ref.shape
    atol = rtol * 0.01 * scale if dtype == np.float64 else rtol * scale
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rtol, atol=atol)


def rows(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def extreme_rows(dtype):
    """Rows of +-1e4, mixed with ordinary values, ties and a lone giant."""
    x = np.array([[1e4, -1e4, 0.0, 3.0, -2.0],
                  [-1e4, -1e4, -1e4, -1e4, -1e4],
                  [1e4, 1e4 - 1.0, 1e4 - 3.0, -1e4, 1e4],
                  [-1e4, -1e4 + 0.5, -1e4 + 2.0, -1e4, -1e4 + 7.0],
                  [2.0, 2.0, 2.0, 2.0, 2.0]])
    return x.astype(dtype)


def all_inputs(dtype):
    yield from ((rows(s, dtype, seed=i), 3.0) for i, s in enumerate(SHAPES))
    yield extreme_rows(dtype), 1e4


# ---- float64 NumPy references ------------------------------------------------------------------
def ref_log_softmax(x):
    z = x.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ref_logsumexp(x):
    x = x.astype(np.float64)
    m = x.max(-1)
    return m + np.log(np.exp(x - m[:, None]).sum(-1))


def ref_cross_entropy(x, t, ignore_index, ls):
    lsm = ref_log_softmax(x)
    keep = t != ignore_index
    nll = -lsm[np.arange(len(t)), np.where(keep, t, 0)]
    loss = (1 - ls) * nll - ls * lsm.mean(-1)
    return np.where(keep, loss, 0.0)


def ref_cross_entropy_backward(x, t, ignore_index, ls, g):
    N, C = x.shape
    keep = t != ignore_index
    q = np.full((N, C), ls / C)
    q[np.arange(N), np.where(keep, t, 0)] += 1 - ls
    return np.where(keep[:, None], g[:, None] * (np.exp(ref_log_softmax(x)) - q), 0.0)


def targets(N, C, ignore_index, seed=0):
    t = np.random.default_rng(seed).integers(0, C, N)
    t[::3] = ignore_index
    return t


# ---- softmax family ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_log_softmax_and_softmax(dtype, rtol):
    for x, scale in all_inputs(dtype):
        ref = ref_log_softmax(x)
        close(K.log_softmax_rows(x), ref, dtype, rtol, scale)
        close(K.softmax_rows(x), np.exp(ref), dtype, rtol)
        assert np.isfinite(K.log_softmax_rows(x)).all()


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_softmax_backwards(dtype, rtol):
    for i, (x, _) in enumerate(all_inputs(dtype)):
        g = rows(x.shape, dtype, seed=100 + i)
        y, sm = K.log_softmax_rows(x), K.softmax_rows(x)
        g64, y64, sm64 = g.astype(np.float64), y.astype(np.float64), sm.astype(np.float64)
        ref = g64 - np.exp(y64) * g64.sum(-1, keepdims=True)
        close(K.log_softmax_backward_rows(g, y), ref, dtype, rtol, 3.0)
        ref = sm64 * (g64 - (g64 * sm64).sum(-1, keepdims=True))
        close(K.softmax_backward_rows(g, sm), ref, dtype, rtol, 3.0)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_logsumexp(dtype, rtol):
    for x, scale in all_inputs(dtype):
        close(K.logsumexp_rows(x), ref_logsumexp(x), dtype, rtol, scale)
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, -inf], [inf, 0.0], [-inf, 0.0], [inf, -inf], [nan, 1.0], [-inf, nan],
                  [inf, nan], [1.0, nan]], dtype)
    want = np.array([-inf, inf, 0.0, inf, nan, nan, nan, nan])
    np.testing.assert_array_equal(K.logsumexp_rows(x), want.astype(dtype))


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("ls", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy(dtype, rtol, ls, ignore_index):
    for i, (x, scale) in enumerate(all_inputs(dtype)):
        N, C = x.shape
        t = targets(N, C, ignore_index, seed=i)
        if ignore_index >= C:
            t[::3] = 0
        loss, lse = K.cross_entropy_rows(x, t, ignore_index, ls)
        close(loss, ref_cross_entropy(x, t, ignore_index, ls), dtype, rtol, scale)
        close(lse, ref_logsumexp(x), dtype, rtol, scale, out_dtype=np.float64)
        g = rows(N, dtype, seed=50 + i)
        dx = K.cross_entropy_backward_rows(x, lse, t, ignore_index, ls, g)
        # exp(x - lse) is as exact as x - lse: eps * |logits| absolute, hence atol ~ scale
        close(dx, ref_cross_entropy_backward(x, t, ignore_index, ls, g.astype(np.float64)), dtype,
              rtol, 3.0 * scale)
        assert (dx[t == ignore_index] == 0).all() and (loss[t == ignore_index] == 0).all()


def test_cross_entropy_all_ignored_and_c1():
    x = rows((4, 1), np.float64)
    t = np.zeros(4, np.int64)
    loss, lse = K.cross_entropy_rows(x, t, -100, 0.2)
    np.testing.assert_array_equal(loss, 0.0)
    np.testing.assert_allclose(lse, x[:, 0], rtol=1e-15)
    np.testing.assert_array_equal(K.cross_entropy_backward_rows(x, lse, t, -100, 0.2, np.ones(4)), 0.0)
    t[:] = 5
    loss, _ = K.cross_entropy_rows(x, t, 5, 0.0)
    np.testing.assert_array_equal(loss, 0.0)


# ---- PyTorch parity ----------------------------------------------------------------------------
def test_torch_log_softmax_and_logsumexp():
    torch = pytest.importorskip("torch")
    for x, scale in all_inputs(np.float64):
        close(K.log_softmax_rows(x), torch.log_softmax(torch.from_numpy(x), -1).numpy(),
              np.float64, 1e-13, scale)
        close(K.logsumexp_rows(x), torch.logsumexp(torch.from_numpy(x), -1).numpy(),
              np.float64, 1e-13, scale)
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, -inf], [inf, 0.0], [-inf, 0.0], [nan, 1.0], [-inf, nan], [inf, nan]])
    np.testing.assert_array_equal(K.logsumexp_rows(x), torch.logsumexp(torch.from_numpy(x), -1))
    with np.errstate(invalid="ignore"):  # inf - inf, in the plain-Python path
        np.testing.assert_array_equal(K.log_softmax_rows(x), torch.log_softmax(torch.from_numpy(x), -1))
        np.testing.assert_array_equal(K.softmax_rows(x), torch.softmax(torch.from_numpy(x), -1))


@pytest.mark.parametrize("ls", [0.0, 0.1, 0.7])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_torch_cross_entropy(ls, ignore_index):
    torch = pytest.importorskip("torch")
    for i, (x, scale) in enumerate(all_inputs(np.float64)):
        t = targets(x.shape[0], x.shape[1], ignore_index, seed=i)
        if ignore_index >= x.shape[1]:
            t[::3] = 0
        xt = torch.from_numpy(x).requires_grad_()
        want = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t), ignore_index=ignore_index,
                                                 label_smoothing=ls, reduction="none")
        g = rows(x.shape[0], np.float64, seed=7)
        want.backward(torch.from_numpy(g))
        loss, lse = K.cross_entropy_rows(x, t, ignore_index, ls)
        close(loss, want.detach().numpy(), np.float64, 1e-13, scale)
        dx = K.cross_entropy_backward_rows(x, lse, t, ignore_index, ls, g)
        close(dx, xt.grad.numpy(), np.float64, 1e-13, 3.0 * scale)


# ---- scatter -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_scatter_add_rows_repeated_indices(dtype, rtol):
    rng = np.random.default_rng(3)
    for N, D, n_rows in [(0, 3, 4), (1, 1, 1), (50, 7, 5), (20, 1, 30)]:
        index = rng.integers(0, n_rows, N)
        src = rows((N, D), dtype, seed=N)
        ref = np.zeros((n_rows, D))
        np.add.at(ref, index, src.astype(np.float64))
        close(S.scatter_add_rows(index, src, n_rows), ref, dtype, rtol)
    out = S.scatter_add_rows(np.array([2, 2, 2]), np.ones((3, 2), dtype), 3)
    np.testing.assert_array_equal(out, np.array([[0, 0], [0, 0], [3, 3]], dtype))


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("padding_idx", [-1, 0, 3])
def test_embedding_backward(dtype, rtol, padding_idx):
    index = np.array([3, 0, 3, 1, 4, 3, 0])
    grad = rows((7, 5), dtype, seed=9)
    ref = np.zeros((6, 5))
    np.add.at(ref, index, grad.astype(np.float64))
    if padding_idx >= 0:
        ref[padding_idx] = 0
    close(S.embedding_backward(index, grad, 6, padding_idx), ref, dtype, rtol)
    assert S.embedding_backward(index[:0], grad[:0], 6, padding_idx).shape == (6, 5)


# ---- pointwise ---------------------------------------------------------------------------------
POINTWISE_X = np.concatenate([np.linspace(-40, 40, 201), [-1e4, 1e4, -800.0, 800.0, 0.0, -0.0]])


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_sigmoid(dtype, rtol):
    special = pytest.importorskip("scipy.special")
    x = POINTWISE_X.astype(dtype)
    with np.errstate(all="raise"):
        close(P.sigmoid(x), special.expit(x.astype(np.float64)), dtype, rtol, 1e-30)
    assert P.sigmoid(x[:0]).shape == (0,)
    np.testing.assert_array_equal(P.sigmoid(np.array([np.inf, -np.inf], dtype)), [1.0, 0.0])
    assert np.isnan(P.sigmoid(np.array([np.nan], dtype))).all()


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_pointwise_backwards(dtype, rtol):
    g = rows(POINTWISE_X.shape, dtype, seed=4)
    g64 = g.astype(np.float64)
    y = np.tanh(POINTWISE_X).astype(dtype)
    y64 = y.astype(np.float64)
    close(P.tanh_backward(g, y), g64 * (1 - y64 * y64), dtype, rtol, 3.0)
    y = P.sigmoid(POINTWISE_X.astype(dtype))
    y64 = y.astype(np.float64)
    close(P.sigmoid_backward(g, y), g64 * y64 * (1 - y64), dtype, rtol, 3.0)
    y = np.maximum(POINTWISE_X, 0).astype(dtype)
    close(P.relu_backward(g, y), g64 * (y > 0), dtype, 0.0)
    g[0], y[0] = np.inf, 0.0
    assert P.relu_backward(g, y)[0] == 0  # as PyTorch: y <= 0 gives 0 whatever g is
    for fn in (P.tanh_backward, P.sigmoid_backward, P.relu_backward):
        assert fn(g[:0], y[:0]).shape == (0,)


def test_scalar_exp_float32():
    x = np.concatenate([np.linspace(-87.3, 88.3, 4001), np.random.default_rng(0).uniform(-5, 1, 2000)])
    x = x.astype(np.float32)
    got = np.array([P.scalar_exp(v) for v in x])
    np.testing.assert_allclose(got, np.exp(x.astype(np.float64)), rtol=2.5e-7, atol=0)
    special = np.array([-np.inf, -1e4, -100.0, 0.0, 1e4, np.inf], np.float32)
    np.testing.assert_array_equal([P.scalar_exp(v) for v in special], [0, 0, 0, 1, np.inf, np.inf])
    assert np.isnan(P.scalar_exp(np.float32(np.nan)))
    assert P.scalar_exp(0.3) == math.exp(0.3)  # float64 is libm's
