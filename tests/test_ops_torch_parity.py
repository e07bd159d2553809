"""PyTorch parity: every op of the table, float64, the same inputs and upstream gradients: forward values
and input gradients equal torch's to 1e-10 (inputs are drawn without max/min ties). Plus extreme
inputs (±1e4), where both must stay finite and agree."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import autograd, ops  # noqa: E402
from op_table import OPS  # noqa: E402
from test_ops import draw_built, float_outputs  # noqa: E402

RTOL = ATOL = 1e-10


def _tkey(key):
    parts = key if isinstance(key, tuple) else (key,)
    out = tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in parts)
    return out if isinstance(key, tuple) else out[0]


def _reduce(fn):
    def call(x, dim, keepdim, **kw):
        if dim is None:
            return fn(x, **kw) if not keepdim else fn(x, dim=tuple(range(x.ndim)), keepdim=True, **kw)
        return fn(x, dim=dim, keepdim=keepdim, **kw)
    return call


TORCH = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda x: -x,
    "pow_scalar": lambda x, p: x ** p,
    "pow_int_any_sign": lambda x, p: x ** p,
    "pow_tensor": lambda a, b: a ** b,
    "tg.pow": torch.pow,
    "scalar_radd": lambda x: 1.5 + x,
    "scalar_rsub": lambda x: 1.5 - x,
    "scalar_rmul": lambda x: 2.5 * x,
    "scalar_rdiv": lambda x: 2.0 / x,
    "scalar_rpow": lambda x: 2.0 ** x,
    "scalar_sub_int": lambda x: x - 3,
    "array_rmul": lambda c, x: c * x,
    "array_rsub": lambda c, x: c - x,
    "array_rdiv": lambda c, x: c / x,
    "array_radd": lambda c, x: c + x,
    "array_div": lambda x, c: x / c,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "clamp": lambda x: torch.clamp(x, -0.5, 0.5),
    "clamp_min": lambda x: torch.clamp(x, min=-0.5),
    "clamp_max": lambda x: torch.clamp(x, max=0.5),
    "where": torch.where,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "matmul": lambda a, b, layout: a @ b,
    "tg.matmul": lambda a, b, layout: torch.matmul(a, b),
    "sum": _reduce(torch.sum),
    "mean": _reduce(torch.mean),
    "var": _reduce(torch.var),
    "logsumexp": lambda x, dim, keepdim: torch.logsumexp(x, dim=dim, keepdim=keepdim),
    "max_all": torch.max,
    "min_all": torch.min,
    "max_dim": lambda x, dim, keepdim: tuple(torch.max(x, dim=dim, keepdim=keepdim)),
    "min_dim": lambda x, dim, keepdim: tuple(torch.min(x, dim=dim, keepdim=keepdim)),
    "reshape": lambda x, shape: x.reshape(shape),
    "view": lambda x, shape: x.view(*shape),
    "transpose": lambda x, dim0, dim1: x.transpose(dim0, dim1),
    "permute": lambda x, dims: x.permute(dims),
    "T": lambda x: x.permute(tuple(reversed(range(x.ndim)))),
    "expand": lambda x, shape, full: x.expand(shape),
    "squeeze": lambda x, dim: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze": lambda x, dim: x.unsqueeze(dim),
    "flatten": lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim),
    "getitem": lambda x, key: x[_tkey(key)],
    "getitem_tensor_key": lambda x, key: x[_tkey(key)],
    "cat": lambda *xs, dim: torch.cat(xs, dim=dim),
    "stack": lambda *xs, dim: torch.stack(xs, dim=dim),
    "split": lambda x, split, dim: torch.split(x, split, dim=dim),
    "unbind": lambda x, dim: torch.unbind(x, dim=dim),
    "chunk": lambda x, chunks, dim: torch.chunk(x, chunks, dim=dim),
    "softmax": lambda x, dim: torch.softmax(x, dim=dim),
    "log_softmax": lambda x, dim: torch.log_softmax(x, dim=dim),
    "cross_entropy": F.cross_entropy,
    "nll_loss": F.nll_loss,
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "embedding": lambda idx, w: F.embedding(idx, w),
    "embedding_padding": lambda idx, w, padding_idx: F.embedding(idx, w, padding_idx=padding_idx),
    "dropout_eval": lambda x, p: F.dropout(x, p, training=False),
    "sin": torch.sin,
    "erf": torch.erf,
    "log1p": torch.log1p,
    "cos": lambda x: x.cos(),
    "clone": lambda x: x.clone(),
    "prod": lambda x, dim, keepdim: _torch_prod(x, dim, keepdim),
    "cumsum": lambda x, dim: x.cumsum(dim),
    "norm": lambda x, dim, keepdim: torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim),
    "gather": lambda x, idx, dim: x.gather(dim, idx),
    "narrow": lambda x, dim, start, length, index: x.narrow(dim, start, length),
    "index_select": lambda x, dim, start, length, index: x.index_select(dim, torch.as_tensor(index)),
    "sort_values": lambda x: x.sort(dim=-1)[0],
    "topk_values": lambda x: x.topk(1, dim=-1)[0],
    "repeat": lambda x, sizes: x.repeat(*sizes),
    "linear": F.linear,
    "index_put": lambda x, v, i: _torch_index_put(x, v, i),
}


def _torch_prod(x, dim, keepdim):
    """torch.prod reduces one dim at a time."""
    dims = range(x.ndim) if dim is None or dim == () else ([dim] if isinstance(dim, int) else dim)
    for d in sorted((d % max(x.ndim, 1) for d in dims), reverse=True) if x.ndim else ():
        x = x.prod(dim=d, keepdim=keepdim)
    return x


def _torch_index_put(x, v, i):
    y = x * 1.0
    y[i] = v
    return y
NOT_COMPARABLE = {"dropout_fixed_seed"}  # random masks: semantics are tested in test_ops.py


def test_every_table_row_has_a_torch_twin():
    assert {op.name for op in OPS} - NOT_COMPARABLE == set(TORCH)


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _assume_torch_can(op, kwargs):
    key = kwargs.get("key")
    if key is not None:  # torch has no negative slice steps
        parts = key if isinstance(key, tuple) else (key,)
        assume(not any(isinstance(p, slice) and p.step is not None and p.step < 0 for p in parts))
    if op.name in ("var", "std"):  # torch 2.13's var backward with dim=() gives inf (its forward is right)
        assume(kwargs.get("dim") != ())


@pytest.mark.filterwarnings("ignore:var.. degrees of freedom:UserWarning")
@pytest.mark.parametrize("op", [op for op in OPS if op.name in TORCH], ids=repr)
@given(data=st.data())
def test_forward_and_gradients_match_torch(op, data):
    b = draw_built(data, op, np.float64)
    _assume_torch_can(op, b.kwargs)
    with np.errstate(all="ignore"):
        ours = b.call()
    t_args, t_leaves = [], []
    for arg, value in zip(b.case.args, b.ref_args):
        t = torch.tensor(np.array(value, order="C"))  # torch kernels differ in what strides they take
        if arg.kind == "x":
            t.requires_grad_(True)
            t_leaves.append(t)
        t_args.append(t)
    theirs = _as_list(TORCH[op.name](*t_args, **b.kwargs))
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape), (o.shape, t.shape)
        np.testing.assert_allclose(o._data, t.detach().numpy(), rtol=RTOL, atol=ATOL, equal_nan=True)

    rng = np.random.default_rng(data.draw(st.integers(0, 99), label="seed"))
    outs = float_outputs(ours)
    t_outs = [t for t in theirs if t.dtype.is_floating_point]
    gs = [rng.standard_normal(o.shape) for o in outs]
    with np.errstate(all="ignore"):
        our_grads = autograd.grad(outs, b.leaves, [tg.tensor(g) for g in gs], allow_unused=True)
    t_grads = torch.autograd.grad(t_outs, t_leaves, [torch.tensor(g) for g in gs], allow_unused=True)
    for g, tgrad, leaf in zip(our_grads, t_grads, b.leaves):
        want = np.zeros(leaf.shape) if tgrad is None else tgrad.numpy()
        got = np.zeros(leaf.shape) if g is None else g._data
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)


# --------------------------------------------------------------------------------------- targeted cases

def _both(x):
    return tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(ours, theirs, x, tx, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours._data, theirs.detach().numpy(), rtol=rtol, atol=atol)
    assert np.all(np.isfinite(ours._data))
    g = np.random.default_rng(1).standard_normal(ours.shape)
    (ours * tg.tensor(g)).sum().backward()
    (theirs * torch.tensor(g)).sum().backward()
    assert np.all(np.isfinite(x.grad._data))
    np.testing.assert_allclose(x.grad._data, tx.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["NC", "NCd"])
def test_cross_entropy_label_smoothing_with_ignore_index(reduction, layout):
    rng = np.random.default_rng(3)
    if layout == "NC":
        logits, target = rng.standard_normal((6, 5)) * 3, np.array([0, 4, -1, 2, -1, 1])
    else:
        logits, target = rng.standard_normal((3, 5, 4)) * 3, np.array([[0, -1, 4, 2], [-1, -1, 1, 3], [2, 2, 0, -1]])
    x, tx = _both(logits)
    ours = ops.cross_entropy(x, tg.tensor(target), ignore_index=-1, reduction=reduction, label_smoothing=0.2)
    theirs = F.cross_entropy(tx, torch.tensor(target), ignore_index=-1, reduction=reduction, label_smoothing=0.2)
    _check(ours, theirs, x, tx)


EXTREME = np.array([[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0, -1e4, -1e4],
                    [1e4, 1e4, -1e4, 1e4 - 5.0, 0.0], [-1e4, 1e4, 5.0, -5.0, 1e4 - 1.0]])


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "log_softmax", "logsumexp", "logsumexp_all",
                                  "cross_entropy", "cross_entropy_smoothed", "bce_with_logits"])
def test_extreme_inputs_match_torch(name):
    x, tx = _both(EXTREME)
    t = np.array([1, 0, 3, -100])
    fns = {
        "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid),
        "softmax": (lambda a: tg.softmax(a, dim=1), lambda a: torch.softmax(a, dim=1)),
        "log_softmax": (lambda a: tg.log_softmax(a, dim=0), lambda a: torch.log_softmax(a, dim=0)),
        "logsumexp": (lambda a: a.logsumexp(dim=1), lambda a: torch.logsumexp(a, dim=1)),
        "logsumexp_all": (lambda a: tg.logsumexp(a, dim=(0, 1)), lambda a: torch.logsumexp(a, dim=(0, 1))),
        "cross_entropy": (lambda a: ops.cross_entropy(a, tg.tensor(t), reduction="none"),
                          lambda a: F.cross_entropy(a, torch.tensor(t), reduction="none")),
        "cross_entropy_smoothed": (lambda a: ops.cross_entropy(a, tg.tensor(t), label_smoothing=0.1),
                                   lambda a: F.cross_entropy(a, torch.tensor(t), label_smoothing=0.1)),
        "bce_with_logits": (lambda a: ops.binary_cross_entropy_with_logits(a, tg.tensor(np.full(a.shape, 0.3))),
                            lambda a: F.binary_cross_entropy_with_logits(a, torch.full(a.shape, 0.3,
                                                                                      dtype=torch.float64))),
    }
    ours_fn, theirs_fn = fns[name]
    _check(ours_fn(x), theirs_fn(tx), x, tx)


def test_var_and_logsumexp_match_torch():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 4, 5))
    for kwargs in (dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(dim=None, correction=0), dict(dim=-1, correction=2)):
        x, tx = _both(a)
        _check(tg.var(x, **kwargs), torch.var(tx, **kwargs), x, tx)
    for dim in (0, (1, 2), -1):
        x, tx = _both(a)
        _check(tg.logsumexp(x, dim), torch.logsumexp(tx, dim), x, tx)


@pytest.mark.parametrize("name", ["var(False)", "std(True)", "var(1, False, True)", "std(0, True)"])
def test_var_and_std_read_positional_bools_as_torch_does(name):
    """x.var(False) is torch's var(unbiased) overload, not var(dim=0)."""
    x, tx = _both(np.random.default_rng(6).standard_normal((3, 4)))
    _check(eval(f"x.{name}"), eval(f"tx.{name}"), x, tx)


TWO_TENSOR_EXTREMA = {"max(a, b)": lambda lib, a, b: lib.max(a, b), "min(a, b)": lambda lib, a, b: lib.min(a, b),
                      "a.max(b)": lambda lib, a, b: a.max(b), "a.min(b)": lambda lib, a, b: a.min(b)}


@pytest.mark.parametrize("call", sorted(TWO_TENSOR_EXTREMA))
def test_max_and_min_of_two_tensors_are_elementwise_as_in_torch(call):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    a, ta = _both(x)
    fn = TWO_TENSOR_EXTREMA[call]
    _check(fn(tg, a, tg.tensor(y)), fn(torch, ta, torch.tensor(y)), a, ta)


@pytest.mark.parametrize("call", ["max(1)", "min(dim=0)", "max(1, keepdim=True)", "sort(descending=True)", "topk(2)",
                                  "sort(0)"])
def test_values_and_indices_are_named_as_in_torch(call):
    x, tx = _both(np.random.default_rng(8).permutation(12).reshape(3, 4).astype(float))
    ours, theirs = eval(f"x.{call}"), eval(f"tx.{call}")
    assert type(ours).__name__ == type(theirs).__name__
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    values, indices = ours
    assert values is ours.values and indices is ours[1]
    _check(ours.values, theirs.values, x, tx)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_matches_torch(dim):
    x, tx = _both(np.random.default_rng(9).standard_normal((3, 4, 2)))
    ours, theirs = x.unbind(dim), tx.unbind(dim)
    assert len(ours) == len(theirs)
    weighted = [lib.stack([p * (k + 1) for k, p in enumerate(pieces)]) for lib, pieces in ((tg, ours), (torch, theirs))]
    _check(*weighted, x, tx)
    assert tg.unbind(tg.zeros(0, 3)) == () and len(torch.zeros(0, 3).unbind()) == 0
    assert tg.gradcheck(lambda a: tg.stack(tg.unbind(a, dim)[::-1]), [tg.tensor(np.ones((2, 3)), requires_grad=True)])
    with pytest.raises(IndexError):
        tg.tensor(1.0).unbind()


def test_scatter_add_masked_select_nonzero_and_mT_match_torch():
    rng = np.random.default_rng(10)
    x, tx = _both(rng.standard_normal((3, 5)))
    index = rng.integers(0, 5, (2, 3))  # smaller than x except along dim 1
    src, tsrc = _both(rng.standard_normal((2, 3)))
    _check(x.scatter_add(1, tg.tensor(index), src), tx.scatter_add(1, torch.tensor(index), tsrc), x, tx)
    np.testing.assert_allclose(src.grad.numpy(), tsrc.grad.numpy(), rtol=1e-15)
    larger = rng.standard_normal((4, 4))  # only its first index.shape entries count (torch's backward fails here)
    ours = x.detach().scatter_add(1, tg.tensor(index), tg.tensor(larger))
    theirs = tx.detach().scatter_add(1, torch.tensor(index), torch.tensor(larger))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15)
    leaves = [tg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((3, 2), (2, 2))]
    assert tg.gradcheck(lambda a, s: a.scatter_add(0, tg.tensor(index[:, :2] % 3), s), leaves)
    with pytest.raises(IndexError):
        x.scatter_add(1, tg.tensor(index + 5), src)
    mask = rng.random(5) > 0.5
    y, ty = _both(rng.standard_normal((3, 5)))
    _check(y.masked_select(tg.tensor(mask)), ty.masked_select(torch.tensor(mask)), y, ty)
    z = rng.integers(0, 2, (3, 4)) * rng.standard_normal((3, 4))
    np.testing.assert_array_equal(tg.tensor(z).nonzero().numpy(), torch.tensor(z).nonzero().numpy())
    for ours_i, theirs_i in zip(tg.tensor(z).nonzero(as_tuple=True), torch.tensor(z).nonzero(as_tuple=True)):
        np.testing.assert_array_equal(ours_i.numpy(), theirs_i.numpy())
    assert tg.tensor(2.0).nonzero().shape == torch.tensor(2.0).nonzero().shape == (1, 0)
    b, tb = _both(rng.standard_normal((2, 3, 4)))
    _check(b.mT, tb.mT, b, tb)


def test_remainder_and_floor_divide_match_torch():
    """% and // with PyTorch's signs (the divisor's), dtypes and gradients; // has no derivative."""
    a, b = np.array([-3.5, 3.2, 7.0, -0.4]), np.array([2.0, -1.5, 2.5, 0.3])
    (x, tx), (y, ty) = _both(a), _both(b)
    ours, theirs = x % y, tx % ty
    _check(ours, theirs, x, tx)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-15)
    assert tg.gradgradcheck(lambda p, q: p % q, [tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)])
    np.testing.assert_array_equal((tg.tensor(a) // tg.tensor(b)).numpy(), (torch.tensor(a) // torch.tensor(b)).numpy())
    cases = [lambda lib: lib.tensor([-3, 3]) // 2, lambda lib: lib.tensor([-3, 3]) % 2,
             lambda lib: 7 % lib.tensor([2.5]), lambda lib: lib.tensor([7]) // 2.5]
    for ours, theirs in ((case(tg), case(torch)) for case in cases):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    with pytest.raises(RuntimeError, match="no derivative"):
        (x // 2).sum().backward()
