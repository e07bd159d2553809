"""Every op of tests/op_table.py: forward against NumPy, gradcheck, gradgradcheck and invariants, over
hypothesis-drawn shapes (broadcastable, size-1 and zero-size dims) and memory layouts (transposed,
strided and reversed views as well as contiguous arrays)."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import autograd, ops
from op_table import DROPOUT_SEED, OPS, seeded_dropout

LAYOUTS = ["C", "transposed", "strided", "reversed"]
FULL_LIMIT = 36  # gradcheck builds the whole Jacobian when inputs and outputs are this small


def relayout(a, layout):
    """The same values in a fresh buffer with other strides (a non-contiguous view unless "C")."""
    a = np.asarray(a)
    if a.ndim == 0 or layout == "C":
        return a.copy()
    if layout == "transposed":
        base = np.empty(a.shape[::-1], a.dtype)
        base[...] = a.T
        return base.T
    if layout == "strided":
        base = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        base[..., ::2] = a
        return base[..., ::2]
    return a[::-1].copy()[::-1]  # reversed: negative strides


def wrap(array, requires_grad=False):
    """A Tensor holding exactly this array (not a contiguous copy of it)."""
    t = tg.tensor(array, requires_grad=requires_grad)
    t._data = array
    return t


class Built:
    """A case's arguments for our fn (Tensors/arrays) and for the reference (float64 arrays)."""

    def __init__(self, case, dtype, layouts):
        self.case, self.kwargs = case, case.kwargs
        self.fn_args, self.ref_args, self.leaves = [], [], []
        for arg, layout in zip(case.args, layouts):
            value = arg.value.astype(dtype) if arg.kind in ("x", "const") else arg.value
            value = relayout(value, layout)
            self.ref_args.append(value.astype(np.float64) if arg.kind in ("x", "const") else value.copy())
            if arg.kind == "x":
                t = wrap(value, requires_grad=True)
                self.leaves.append(t)
                self.fn_args.append(t)
            elif arg.kind == "const":
                self.fn_args.append(value)
            else:
                self.fn_args.append(wrap(value))
        self.snapshot = [np.array(a._data if isinstance(a, tg.Tensor) else a, copy=True) for a in self.fn_args]

    def call(self):
        with np.errstate(all="ignore"):
            return as_list(self.op_fn(*self.fn_args, **self.kwargs))

    def assert_inputs_unchanged(self):
        for a, before in zip(self.fn_args, self.snapshot):
            np.testing.assert_array_equal(a._data if isinstance(a, tg.Tensor) else a, before)


def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def draw_built(data, op, dtype):
    case = data.draw(op.cases, label="case")
    layouts = data.draw(st.lists(st.sampled_from(LAYOUTS), min_size=len(case.args), max_size=len(case.args)),
                        label="layouts")
    b = Built(case, dtype, layouts)
    b.op_fn = op.fn
    return b


def float_outputs(outs):
    return [o for o in outs if o.dtype.kind == "f"]


def size(ts):
    return sum(int(np.prod(t.shape)) for t in ts)


# --------------------------------------------------------------------------------------- forward

@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")  # NumPy's, for the reference
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("op", [op for op in OPS if op.ref is not None], ids=repr)
@given(data=st.data())
def test_forward_matches_numpy(op, dtype, data):
    b = draw_built(data, op, dtype)
    outs = b.call()
    with np.errstate(all="ignore"):
        refs = as_list(op.ref(*b.ref_args, **b.kwargs))
    assert len(outs) == len(refs)
    if op.broadcast:  # binary (and where's ternary) ops broadcast their operands like NumPy
        assert outs[0].shape == np.broadcast_shapes(*(np.shape(a) for a in b.ref_args))
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else op.tol32
    for out, ref in zip(outs, refs):
        ref = np.asarray(ref)
        assert isinstance(out, tg.Tensor)
        assert out.shape == ref.shape
        if ref.dtype.kind == "f":
            assert out.dtype == dtype, f"{op.name} turned {np.dtype(dtype)} inputs into {out.dtype}"
            np.testing.assert_allclose(out._data, ref, rtol=rtol, atol=atol, equal_nan=True)
        else:
            assert out.dtype == ref.dtype
            np.testing.assert_array_equal(out._data, ref)
    b.assert_inputs_unchanged()


# --------------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("op", [op for op in OPS if op.fd], ids=repr)
@given(data=st.data())
def test_gradcheck(op, data):
    b = draw_built(data, op, np.float64)
    fn = lambda *args: op.fn(*args, **b.kwargs)  # noqa: E731
    with np.errstate(all="ignore"):
        outs = float_outputs(b.call())
        assume(all(np.all(np.isfinite(o._data)) for o in outs))  # e.g. the mean of nothing: no derivative
        n_out = size(outs)
        if size(b.leaves) <= FULL_LIMIT and n_out <= FULL_LIMIT:
            assert tg.gradcheck(fn, b.fn_args, mode="full")
        assert tg.gradcheck(fn, b.fn_args, mode="projection", seed=data.draw(st.integers(0, 99), label="seed"))
    b.assert_inputs_unchanged()


@pytest.mark.parametrize("op", [op for op in OPS if op.second_order], ids=repr)
@given(data=st.data())
def test_gradgradcheck(op, data):
    b = draw_built(data, op, np.float64)
    fn = lambda *args: op.fn(*args, **b.kwargs)  # noqa: E731
    with np.errstate(all="ignore"):
        n = size(b.leaves) + size(float_outputs(b.call()))
        mode = "full" if n <= 16 else "projection"
        assert tg.gradgradcheck(fn, b.fn_args, mode=mode)
    b.assert_inputs_unchanged()


@pytest.mark.parametrize("op", [op for op in OPS if op.grad_ref is not None], ids=repr)
@given(data=st.data())
def test_gradient_matches_reference(op, data):
    """Rows whose gradient is not the finite difference by definition (embedding's padding row)."""
    b = draw_built(data, op, np.float64)
    outs = float_outputs(b.call())
    rng = np.random.default_rng(data.draw(st.integers(0, 99), label="seed"))
    gs = [rng.standard_normal(o.shape) for o in outs]
    grads = autograd.grad(outs, b.leaves, [tg.tensor(g) for g in gs])
    for got, want in zip(grads, op.grad_ref(b.case, gs)):
        np.testing.assert_allclose(got._data, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------- invariants

@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # mean/logsumexp over nothing
@pytest.mark.parametrize("op", OPS, ids=repr)
@given(data=st.data())
def test_invariants(op, data):
    """Inputs and incoming gradients are not mutated; each gradient has its input's shape and dtype;
    .backward agrees with autograd.grad; the graph is freed after backward unless retain_graph=True."""
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    b = draw_built(data, op, dtype)
    outs = float_outputs(b.call())
    assert outs, "every op has a floating output"
    rng = np.random.default_rng(data.draw(st.integers(0, 99), label="seed"))
    g_arrays = [relayout(rng.standard_normal(o.shape).astype(dtype), data.draw(st.sampled_from(LAYOUTS)))
                for o in outs]
    g_before = [g.copy() for g in g_arrays]
    gs = [wrap(g) for g in g_arrays]

    grads = autograd.grad(outs, b.leaves, gs, retain_graph=True, allow_unused=True)
    for leaf, g in zip(b.leaves, grads):
        assert isinstance(g, tg.Tensor), f"{op.name}: no gradient reached an input"
        assert g.shape == leaf.shape and g.dtype == leaf.dtype
        assert np.all(np.isfinite(g._data))

    # .backward on the first output alone; its grads agree with autograd.grad of that output
    first, g0 = outs[0], gs[0]
    want = autograd.grad([first], b.leaves, [g0], retain_graph=True, allow_unused=True)
    first.backward(g0)
    for leaf, w in zip(b.leaves, want):
        got = leaf.grad
        if w is None:
            assert got is None
            continue
        assert got.shape == leaf.shape and got.dtype == leaf.dtype
        np.testing.assert_array_equal(got._data, w._data)
    if first.grad_fn is not None:  # identity ops may return their (leaf) input itself
        with pytest.raises(RuntimeError):
            first.backward(g0)

    # retain_graph=True allows a second backward, which accumulates the same gradient again
    for leaf in b.leaves:
        leaf.grad = None
    first = float_outputs(b.call())[0]
    first.backward(g0, retain_graph=True)
    once = [None if leaf.grad is None else leaf.grad._data.copy() for leaf in b.leaves]
    first.backward(g0)
    for leaf, o in zip(b.leaves, once):
        if o is not None:
            np.testing.assert_allclose(leaf.grad._data, 2 * o, rtol=1e-6)

    b.assert_inputs_unchanged()
    for g, before in zip(g_arrays, g_before):
        np.testing.assert_array_equal(g, before)


# --------------------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_mask_semantics(p):
    """Every element is either zeroed or scaled by 1/(1-p); about p of them are zeroed; the gradient
    is the same mask; the same seed gives the same mask."""
    x = tg.tensor(np.random.default_rng(0).uniform(0.5, 2.0, (50, 40)), requires_grad=True)
    y = seeded_dropout(x, p)
    kept = y._data != 0
    np.testing.assert_allclose(y._data[kept], x._data[kept] / (1 - p), rtol=1e-15)
    frac = 1 - kept.mean()
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / kept.size)
    y.backward(tg.ones(50, 40, dtype=np.float64))
    np.testing.assert_allclose(x.grad._data, kept / (1 - p), rtol=1e-15)
    np.testing.assert_array_equal(seeded_dropout(x, p)._data, y._data)
    tg.manual_seed(DROPOUT_SEED + 1)
    assert not np.array_equal(ops.dropout(x, p)._data != 0, kept)


def test_dropout_eval_p0_p1():
    x = tg.randn(4, 5, requires_grad=True)
    np.testing.assert_array_equal(ops.dropout(x, 0.5, training=False)._data, x._data)
    np.testing.assert_array_equal(ops.dropout(x, 0.0)._data, x._data)
    y = ops.dropout(x, 1.0)
    np.testing.assert_array_equal(y._data, np.zeros((4, 5)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, np.zeros((4, 5)))
    assert x.grad.dtype == np.float32
    with pytest.raises(ValueError, match="p"):
        ops.dropout(x, 1.5)


def test_dropout_keeps_float32():
    x = tg.randn(3, 4)
    assert ops.dropout(x, 0.3).dtype == np.float32


# --------------------------------------------------------------------------------------- embedding

def test_embedding_padding_row_gets_no_gradient():
    w = tg.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    idx = tg.tensor([[0, 2, 2], [3, 0, 1]])
    out = ops.embedding(idx, w, padding_idx=2)
    np.testing.assert_array_equal(out._data, w._data[idx._data])  # the padding row is still looked up
    out.backward(tg.ones(2, 3, 3, dtype=w.dtype))
    np.testing.assert_array_equal(w.grad._data, [[2] * 3, [1] * 3, [0] * 3, [1] * 3])
    w.grad = None
    ops.embedding(idx, w, padding_idx=-2).sum().backward()  # negative padding_idx counts from the end
    np.testing.assert_array_equal(w.grad._data[2], [0, 0, 0])


# --------------------------------------------------------------------------------------- cross_entropy edges

@pytest.mark.parametrize("reduction,want", [("sum", 0.0), ("mean", np.nan), ("none", [0.0, 0.0])])
def test_cross_entropy_with_no_classes(reduction, want):
    """C = 0 (every target ignored) gives what torch gives, and never reads past the logits."""
    x = tg.zeros(2, 0, dtype=np.float64, requires_grad=True)
    with np.errstate(all="ignore"):
        y = ops.cross_entropy(x, tg.tensor([-100, -100]), reduction=reduction, label_smoothing=0.1)
        np.testing.assert_array_equal(y._data, want)
        y.sum().backward()
    assert x.grad.shape == (2, 0)


def test_cross_entropy_all_ignored_mean_is_nan_sum_is_zero():
    x = tg.randn(3, 4, dtype=np.float64, requires_grad=True)
    t = tg.tensor([-100, -100, -100])
    assert ops.cross_entropy(x, t, reduction="sum").item() == 0.0
    with np.errstate(all="ignore"):
        assert np.isnan(ops.cross_entropy(x, t).item())
    ops.cross_entropy(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad._data, np.zeros((3, 4)))


# --------------------------------------------------------------------------------------- numerics at ±1e4

EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0, -1e4], [1e4, 1e4, -1e4, 1e4 - 5.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_extreme_inputs_stay_finite_and_accurate(dtype):
    import scipy.special as sp

    x = tg.tensor(EXTREME.astype(dtype), requires_grad=True)
    ref = EXTREME.astype(dtype).astype(np.float64)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    cases = [
        (lambda t: t.sigmoid(), sp.expit(ref)),
        (lambda t: tg.softmax(t, dim=1), sp.softmax(ref, axis=1)),
        (lambda t: tg.softmax(t, dim=0), sp.softmax(ref, axis=0)),
        (lambda t: tg.log_softmax(t, dim=1), sp.log_softmax(ref, axis=1)),
        (lambda t: tg.logsumexp(t, dim=1), sp.logsumexp(ref, axis=1)),
        (lambda t: tg.logsumexp(t, dim=(0, 1)), sp.logsumexp(ref)),
        (lambda t: ops.cross_entropy(t, tg.tensor([1, 0, 2]), reduction="none"),
         sp.logsumexp(ref, axis=1) - ref[[0, 1, 2], [1, 0, 2]]),
        (lambda t: ops.binary_cross_entropy_with_logits(t, tg.zeros(3, 4, dtype=dtype), reduction="none"),
         -sp.log_expit(-ref)),
    ]
    for fn, want in cases:
        x.grad = None
        y = fn(x)
        assert np.all(np.isfinite(y._data))
        np.testing.assert_allclose(y._data, want, rtol=rtol, atol=1e-300)
        y.sum().backward()
        assert np.all(np.isfinite(x.grad._data))


def test_extreme_cross_entropy_gradient_is_softmax_minus_onehot():
    x = tg.tensor(EXTREME, requires_grad=True)
    t = np.array([1, 0, 3])
    ops.cross_entropy(x, tg.tensor(t), reduction="sum").backward()
    import scipy.special as sp
    want = sp.softmax(EXTREME, axis=1)
    want[np.arange(3), t] -= 1
    np.testing.assert_allclose(x.grad._data, want, rtol=1e-12, atol=1e-300)


def test_stack_and_unbind_are_one_node_each():
    """T steps' outputs stacked, or a sequence unbound into its steps, record one node, not T + 1
    (an unsqueeze or squeeze per tensor and a cat or split): per-node Python is what the unrolled
    loops pay for."""
    xs = [tg.randn(2, 3, requires_grad=True) for _ in range(4)]
    y = tg.stack(xs, 1)
    assert y._ctx.edges[0] is None and all(e is x for e, x in zip(y._ctx.edges[1:], xs))
    parts = y.unbind(1)
    assert len(parts) == 4 and {id(p._ctx) for p in parts} == {id(parts[0]._ctx)}
    assert parts[0]._ctx.edges == ((y._ctx, 0), None)
    (parts[1] * 2 + parts[3]).sum().backward()
    for x, scale in zip(xs, [0, 2, 0, 1]):
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), scale, np.float32))


def test_unbind_and_iteration_give_views_as_torch():
    """unbind's pieces (and a tensor's rows in a for loop) are views of it, of a 1-D tensor too."""
    for x in (tg.zeros(3), tg.zeros(3, 2)):
        x.unbind(0)[0].add_(1)
        next(iter(x)).add_(1)
        assert np.all(x.numpy()[0] == 2) and np.all(x.numpy()[1:] == 0)
