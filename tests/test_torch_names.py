"""The rest of PyTorch's tensor methods and torch.* functions (torch_names.py, ops/special.py,
ops/rearrange.py, ops/einsum.py, the linalg and reduce additions, creation's new factories): each
differentiable case is gradient-checked in float64 and, when PyTorch is installed, equals torch's
values and input gradients for the same program; the others equal torch's values and dtypes."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import gradcheck, gradgradcheck, torch_names

from optional_torch import needs_torch, torch


def _normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def _uniform(lo, hi, *shape):
    return lambda rng: rng.uniform(lo, hi, shape)


def _away(*shape):
    """Values at least 0.1 from the nearest half-integer and integer jumps' neighbours (rounding)."""
    return lambda rng: rng.integers(-4, 5, shape) + rng.uniform(0.1, 0.4, shape) * rng.choice([-1, 1], shape)


IDX = np.array([[0, 2, 1, 2], [1, 0, 0, 1]])  # for dim-0 scatter into (3, 4): columns distinct per row
ROWS = np.array([2, 0, 2])

DIFFERENTIABLE = [  # (name, fn(lib, *xs), input makers)
    *[(f"{name}", (lambda n: lambda L, x: getattr(L, n)(x))(name), [maker]) for name, maker in [
        ("erf", _normal(3, 4)), ("log1p", _uniform(-0.5, 2, 3, 4)), ("expm1", _normal(3, 4)),
        ("exp2", _normal(3, 4)), ("log2", _uniform(0.5, 2, 3, 4)), ("log10", _uniform(0.5, 2, 3, 4)),
        ("tan", _uniform(-1.2, 1.2, 3, 4)), ("asin", _uniform(-0.8, 0.8, 3, 4)),
        ("acos", _uniform(-0.8, 0.8, 3, 4)), ("atan", _normal(3, 4)), ("sinh", _normal(3, 4)),
        ("cosh", _normal(3, 4)), ("asinh", _normal(3, 4)), ("acosh", _uniform(1.2, 3, 3, 4)),
        ("atanh", _uniform(-0.8, 0.8, 3, 4)), ("arcsin", _uniform(-0.8, 0.8, 4)),
        ("reciprocal", _uniform(0.5, 2, 3, 4)), ("rsqrt", _uniform(0.5, 2, 3, 4)), ("square", _normal(3, 4)),
        ("frac", _away(3, 4)), ("trace", _normal(3, 4)), ("ravel", _normal(2, 3)), ("diag", _normal(4)),
        ("nansum", _normal(3, 4)), ("nanmean", _normal(3, 4)), ("amin", _normal(3, 4)),
        ("absolute", _uniform(0.5, 2, 3)), ("negative", _normal(3)),
    ]],
    ("flip", lambda L, x: L.flip(x, (0, 2)), [_normal(2, 3, 4)]),
    ("flip_method_int_dim", lambda L, x: x.flip(-1), [_normal(2, 3)]),
    ("roll", lambda L, x: L.roll(x, (1, -2), (0, 1)), [_normal(3, 4)]),
    ("roll_flat", lambda L, x: x.roll(5), [_normal(3, 4)]),
    ("tril", lambda L, x: L.tril(x), [_normal(2, 3, 4)]),
    ("triu_offset", lambda L, x: x.triu(-1), [_normal(4, 3)]),
    ("tril_offset", lambda L, x: x.tril(2), [_normal(3, 5)]),
    ("diagonal", lambda L, x: L.diagonal(x, 1, 0, 2), [_normal(3, 2, 4)]),
    ("diagonal_negative_offset", lambda L, x: x.diagonal(-1), [_normal(4, 3)]),
    ("diag_of_a_matrix", lambda L, x: L.diag(x, -1), [_normal(4, 3)]),
    ("diag_embed_offset", lambda L, x: L.diag(x, 2), [_normal(3)]),
    ("movedim", lambda L, x: L.movedim(x, (0, 1), (2, 0)), [_normal(2, 3, 4)]),
    ("moveaxis", lambda L, x: x.moveaxis(0, -1), [_normal(2, 3, 4)]),
    ("swapaxes", lambda L, x: L.swapaxes(x, 0, 2), [_normal(2, 3, 4)]),
    ("unflatten", lambda L, x: x.unflatten(1, (2, -1)), [_normal(3, 6)]),
    ("tile", lambda L, x: L.tile(x, (2, 1, 2)), [_normal(2, 3)]),
    ("tile_fewer_dims", lambda L, x: x.tile(2), [_normal(2, 3)]),
    ("repeat_interleave", lambda L, x: x.repeat_interleave(2, dim=1), [_normal(2, 3)]),
    ("repeat_interleave_tensor", lambda L, x: L.repeat_interleave(x, L.tensor([1, 0, 3]), dim=0), [_normal(3, 2)]),
    ("repeat_interleave_flat", lambda L, x: L.repeat_interleave(x, 2), [_normal(2, 2)]),
    ("select", lambda L, x: x.select(1, -1), [_normal(2, 3, 4)]),
    ("take_along_dim", lambda L, x: L.take_along_dim(x, L.tensor([[0], [2]]), dim=1), [_normal(2, 3)]),
    ("take_along_dim_flat", lambda L, x: x.take_along_dim(L.tensor([5, 0, 5])), [_normal(2, 3)]),
    ("take_along_dim_broadcast", lambda L, x: L.take_along_dim(x, L.tensor([[[1, 0]]]), 2), [_normal(2, 3, 4)]),
    ("tensor_split_sections", lambda L, x: L.cat([p * (k + 1) for k, p in enumerate(x.tensor_split(3, 1))], 1),
     [_normal(2, 7)]),
    ("tensor_split_indices", lambda L, x: L.cat([p * (k + 1) for k, p in enumerate(L.tensor_split(x, [1, 4]))]),
     [_normal(6, 2)]),
    ("scatter", lambda L, x, s: x.scatter(0, L.tensor(IDX), s), [_normal(3, 4), _normal(2, 4)]),
    ("scatter_larger_src", lambda L, x, s: x.scatter(0, L.tensor(IDX), s), [_normal(3, 4), _normal(2, 5)]),
    ("scatter_value", lambda L, x: L.scatter(x, 1, L.tensor([[0], [2]]), 1.5), [_normal(2, 3)]),
    ("scatter_reduce_add", lambda L, x, s: x.scatter(0, L.tensor(IDX), s, reduce="add"),
     [_normal(3, 4), _normal(2, 4)]),
    ("index_add", lambda L, x, s: x.index_add(0, L.tensor(ROWS), s, alpha=2.0), [_normal(3, 2), _normal(3, 2)]),
    ("index_add_dim1", lambda L, x, s: L.index_add(x, 1, L.tensor([1, 1]), s), [_normal(2, 3), _normal(2, 2)]),
    ("index_copy", lambda L, x, s: x.index_copy(1, L.tensor([2, 0]), s), [_normal(2, 3), _normal(2, 2)]),
    ("index_fill", lambda L, x: x.index_fill(1, L.tensor([0, 2]), -1.0), [_normal(2, 3)]),
    ("outer", lambda L, a, b: L.outer(a, b), [_normal(3), _normal(4)]),
    ("dot", lambda L, a, b: L.dot(a, b), [_normal(4), _normal(4)]),
    ("mv", lambda L, m, v: m.mv(v), [_normal(3, 4), _normal(4)]),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0), [_normal(3), _normal(3, 2), _normal(2, 3)]),
    ("addmv", lambda L, c, a, b: c.addmv(a, b), [_normal(3), _normal(3, 2), _normal(2)]),
    ("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, alpha=0.5),
     [_normal(2, 3, 4), _normal(2, 3, 2), _normal(2, 2, 4)]),
    ("addmm_beta_0", lambda L, c, a, b: L.addmm(c, a, b, beta=0), [_normal(1, 3), _normal(2, 2), _normal(2, 3)]),
    ("lerp", lambda L, a, b: L.lerp(a, b, 0.3), [_normal(3), _normal(3)]),
    ("lerp_tensor_weight", lambda L, a, b, w: a.lerp(b, w), [_normal(3), _normal(3), _normal(3)]),
    ("addcmul", lambda L, x, a, b: L.addcmul(x, a, b, value=0.5), [_normal(3), _normal(3), _normal(2, 3)]),
    ("addcdiv", lambda L, x, a, b: x.addcdiv(a, b, value=2), [_normal(3), _normal(3), _uniform(0.5, 2, 3)]),
    ("clamp_min", lambda L, x: L.clamp_min(x, 0.1), [_normal(3, 4)]),
    ("clamp_max", lambda L, x: x.clamp_max(-0.1), [_normal(3, 4)]),
    ("var_mean", lambda L, x: L.stack(L.var_mean(x, 1)), [_normal(3, 4)]),
    ("std_mean", lambda L, x: L.stack(L.std_mean(x, dim=0, correction=0)), [_normal(3, 4)]),
    ("sum_to_size", lambda L, x: x.sum_to_size(3, 1), [_normal(2, 3, 4)]),
    ("where_method", lambda L, x, y: x.where(x > 0, y), [_normal(3, 4), _normal(4)]),
    ("nan_to_num", lambda L, x: (x + L.tensor([[float("nan"), float("inf"), -float("inf"), 0.0]] * 3,
                                              dtype=L.float64)).nan_to_num(posinf=2.0), [_normal(3, 4)]),
    ("functions_of_methods", lambda L, x, y: L.mm(L.transpose(x, 0, 1), L.abs(y)) + L.sub(L.argmax(x), 1.5),
     [_normal(3, 2), _normal(3, 4)]),
    ("einsum_matmul", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [_normal(2, 3), _normal(3, 4)]),
    ("einsum_batched", lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [_normal(2, 2, 3), _normal(2, 3, 2)]),
    ("einsum_implicit", lambda L, a, b: L.einsum("ij,kj", a, b), [_normal(2, 3), _normal(4, 3)]),
    ("einsum_trace", lambda L, a: L.einsum("ii", a), [_normal(3, 3)]),
    ("einsum_diagonal", lambda L, a: L.einsum("ii->i", a), [_normal(3, 3)]),
    ("einsum_summed_out", lambda L, a, b: L.einsum("ij,k->i", a, b), [_normal(2, 3), _normal(4)]),
    ("einsum_ellipsis", lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b), [_normal(2, 2, 3), _normal(3, 2)]),
    ("einsum_broadcast_one", lambda L, a, b: L.einsum("ij,ij->i", a, b), [_normal(1, 3), _normal(2, 3)]),
    ("einsum_three", lambda L, a, b, c: L.einsum("i,ij,j->", a, b, c), [_normal(2), _normal(2, 3), _normal(3)]),
    ("einsum_list", lambda L, a, b: L.einsum("bh,hk->bk", [a, b]), [_normal(2, 3), _normal(3, 2)]),
    ("index_put_accumulate", lambda L, x, v: x.index_put((L.tensor([0, 0, 2]),), v, accumulate=True),
     [_normal(3, 2), _normal(3, 2)]),
    ("flip_varargs", lambda L, x: x.flip(0, 1), [_normal(2, 3)]),
    ("function_of_a_number_and_a_tensor", lambda L, x: L.add(0.1, x) * L.mul(2.1, x) + L.sub(0.3, x),
     [_normal(3)]),
    ("einsum_attention", lambda L, q, k: L.einsum("bqd,bkd->bqk", q, k).softmax(-1),
     [_normal(2, 3, 4), _normal(2, 5, 4)]),
]


def _inputs(makers, lib, seed=0):
    rng = np.random.default_rng(seed)
    return [lib.tensor(make(rng), dtype=lib.float64, requires_grad=True) for make in makers]


def _out(y):
    return y if not isinstance(y, tuple) else y[0]


@pytest.mark.parametrize("name, fn, makers", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_gradcheck(name, fn, makers):
    assert gradcheck(lambda *xs: _out(fn(tg, *xs)), _inputs(makers, tg))


SECOND_ORDER = ["erf", "log1p", "tan", "acosh", "atanh", "rsqrt", "flip", "roll", "tril", "diagonal",
                "diag_embed_offset", "scatter", "index_add", "einsum_batched", "einsum_diagonal", "einsum_summed_out",
                "lerp_tensor_weight", "take_along_dim", "movedim"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_gradgradcheck(name):
    _, fn, makers = next(c for c in DIFFERENTIABLE if c[0] == name)
    assert gradgradcheck(lambda *xs: _out(fn(tg, *xs)), _inputs(makers, tg))


TORCH_LACKS = {"scatter_larger_src": "torch 2.13's scatter gives src a gradient of the index's shape",
               "scatter_reduce_add": "torch 2.13 has no derivative for scatter with reduce"}
WITH_TORCH = [c for c in DIFFERENTIABLE if c[0] not in TORCH_LACKS]


@needs_torch
@pytest.mark.parametrize("name, fn, makers", WITH_TORCH, ids=[c[0] for c in WITH_TORCH])
def test_values_and_gradients_match_torch(name, fn, makers):
    results = []
    for lib in (tg, torch):
        xs = _inputs(makers, lib)
        y = _out(fn(lib, *xs))
        g = np.random.default_rng(1).standard_normal(tuple(y.shape))
        y.backward(lib.tensor(g, dtype=lib.float64))
        results.append((y.detach().numpy(), [x.grad.numpy() if x.grad is not None else 0 * x.detach().numpy()
                                             for x in xs]))
    (ours, our_grads), (theirs, their_grads) = results
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    for a, b in zip(our_grads, their_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


ROUNDING = ["floor", "ceil", "trunc", "round", "sign", "fix", "sgn"]


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_has_zero_gradient_and_numpys_values(name):
    x = tg.tensor(_away(3, 4)(np.random.default_rng(0)), requires_grad=True)
    y = getattr(tg, name)(x)
    y.sum().backward()
    ref = {"fix": np.trunc, "sgn": np.sign}[name] if name in ("fix", "sgn") else getattr(np, name)
    np.testing.assert_array_equal(y.detach().numpy(), ref(x.detach().numpy()))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


VALUES = [  # (name, fn(lib) -> tensor or Python value): no gradients; values and dtypes equal torch's
    ("round_half_to_even", lambda L: L.round(L.tensor([0.5, 1.5, 2.5, -0.5, -1.5]))),
    ("round_decimals", lambda L: L.tensor([1.2345, -2.5678], dtype=L.float64).round(decimals=2)),
    ("floor_of_ints", lambda L: L.floor(L.tensor([1, -2, 3]))),
    ("sign_of_ints", lambda L: L.tensor([-3, 0, 2]).sign()),
    ("sign_of_nan", lambda L: L.sign(L.tensor([float("nan"), -0.0, 2.0]))),
    ("reciprocal_of_ints", lambda L: L.reciprocal(L.tensor([1, 2, 4]))),
    ("square_of_ints", lambda L: L.tensor([1, -2, 3]).square()),
    ("erf_of_ints", lambda L: L.erf(L.tensor([0, 1]))),
    ("isnan", lambda L: L.isnan(L.tensor([1.0, float("nan"), float("inf")]))),
    ("isinf", lambda L: L.tensor([1.0, float("-inf"), float("inf")]).isinf()),
    ("isfinite", lambda L: L.isfinite(L.tensor([1.0, float("nan"), float("inf")]))),
    ("isposinf", lambda L: L.isposinf(L.tensor([1.0, float("-inf"), float("inf")]))),
    ("isnan_of_ints", lambda L: L.isnan(L.tensor([1, 2]))),
    ("signbit", lambda L: L.signbit(L.tensor([-0.0, 0.0, -2.0]))),
    ("logical_and", lambda L: L.logical_and(L.tensor([0, 1, 2]), L.tensor([1.0, 0.0, 3.0]))),
    ("logical_or", lambda L: L.tensor([True, False]).logical_or(L.tensor([False, False]))),
    ("logical_xor", lambda L: L.logical_xor(L.tensor([0, 1, 2]), L.tensor([1, 1, 0]))),
    ("isclose", lambda L: L.isclose(L.tensor([1.0, 2.0, float("nan")]), L.tensor([1.0 + 1e-9, 2.1, float("nan")]),
                                    equal_nan=True)),
    ("allclose", lambda L: L.allclose(L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0 + 1e-7]))),
    ("allclose_false", lambda L: L.tensor([1.0, 2.0]).allclose(L.tensor([1.0, 2.1]))),
    ("equal", lambda L: L.equal(L.tensor([1, 2]), L.tensor([1, 2]))),
    ("equal_shapes_differ", lambda L: L.equal(L.tensor([1, 2]), L.tensor([[1, 2]]))),
    ("count_nonzero", lambda L: L.count_nonzero(L.tensor([[0, 1, 2], [0, 0, 3]]), dim=0)),
    ("count_nonzero_all", lambda L: L.tensor([[0.0, 1.0], [2.0, 0.0]]).count_nonzero()),
    ("nansum", lambda L: L.nansum(L.tensor([1.0, float("nan"), 2.0]))),
    ("nanmean", lambda L: L.tensor([[1.0, float("nan")], [2.0, 4.0]]).nanmean(dim=1)),
    ("nan_to_num_defaults", lambda L: L.nan_to_num(L.tensor([float("nan"), float("inf"), -float("inf"), 1.0]))),
    ("nan_to_num_values", lambda L: L.tensor([float("nan"), float("inf")], dtype=L.float64).nan_to_num(1.0, 9.0)),
    ("tril_of_ints", lambda L: L.tril(L.arange(12).reshape(3, 4), -1)),
    ("triu_of_bools", lambda L: L.ones(3, 3, dtype=L.bool).triu(1)),
    ("flip_of_ints", lambda L: L.arange(6).reshape(2, 3).flip(0, 1) if L is torch else
     L.arange(6).reshape(2, 3).flip((0, 1))),
    ("roll_negative", lambda L: L.roll(L.arange(5), -7)),
    ("tensor_split_more_than_size", lambda L: L.stack([p.sum() for p in L.arange(3).tensor_split(5)])),
    ("tensor_split_indices_out_of_order", lambda L: L.tensor([len(p) for p in L.arange(6).tensor_split([4, 2, 9])])),
    ("diag_of_a_row", lambda L: L.diag(L.tensor([[1, 2, 3]]))),
    ("scatter_repeated_index_last_wins", lambda L: L.zeros(3).scatter(0, L.tensor([1, 1]), L.tensor([5.0, 5.0]))),
    ("scatter_multiply", lambda L: L.ones(2, 3).scatter(1, L.tensor([[0, 0], [2, 1]]),
                                                        L.tensor([[2.0, 3.0], [4.0, 5.0]]), reduce="multiply")),
    ("index_add_ints", lambda L: L.zeros(3, dtype=L.int64).index_add(0, L.tensor([0, 0, 2]), L.tensor([1, 2, 3]))),
    ("einsum_outer_ints", lambda L: L.einsum("i,j->ij", L.arange(3), L.arange(2))),
    ("einsum_upper_case", lambda L: L.einsum("Ab,bC", L.ones(2, 3), L.ones(3, 4))),
    ("eye", lambda L: L.eye(3)),
    ("eye_rectangular", lambda L: L.eye(2, 4, dtype=L.int64)),
    ("linspace", lambda L: L.linspace(-1, 2, 7)),
    ("linspace_one_step", lambda L: L.linspace(3, 5, 1, dtype=L.float64)),
    ("logspace", lambda L: L.logspace(0, 2, 3, dtype=L.float64)),
    ("logspace_base_2", lambda L: L.logspace(0, 3, 4, base=2)),
    ("randperm_is_a_permutation", lambda L: L.sort(L.randperm(6)).values),
    ("empty_like_shape", lambda L: L.tensor(L.empty_like(L.ones(2, 3, dtype=L.int32)).shape)),
    ("rand_like_dtype", lambda L: L.tensor(str(L.rand_like(L.ones(2, dtype=L.float64)).dtype)[-7:] == "float64")),
    ("tril_indices", lambda L: L.tril_indices(3, 4, 1)),
    ("triu_indices", lambda L: L.triu_indices(4, 3, -1)),
    ("meshgrid_ij", lambda L: L.stack(L.meshgrid(L.arange(3), L.arange(2), indexing="ij"))),
    ("meshgrid_xy", lambda L: L.stack(L.meshgrid(L.arange(3), L.arange(2), indexing="xy"))),
    ("broadcast_tensors", lambda L: L.stack(L.broadcast_tensors(L.ones(3, 1), L.arange(2.0)))),
    ("broadcast_shapes", lambda L: L.tensor(L.broadcast_shapes((3, 1), (2,), 1))),
    ("stride", lambda L: L.tensor(L.zeros(2, 3, 4).transpose(0, 2).stride())),
    ("stride_dim", lambda L: L.tensor(L.zeros(2, 3).stride(0))),
    ("storage_offset", lambda L: L.tensor(L.arange(12).reshape(3, 4)[1:, 2:].storage_offset())),
    ("nbytes_itemsize", lambda L: L.tensor([L.zeros(3).nbytes, L.zeros(2, dtype=L.float64).itemsize])),
    ("byte_char_short", lambda L: L.stack([L.tensor([300.0, -2.0]).short(), L.tensor([3.7, -2.0]).char().short(),
                                           L.tensor([3.7, 2.0]).byte().short()])),
    ("is_signed", lambda L: L.tensor([L.zeros(1).is_signed(), L.zeros(1, dtype=L.uint8).is_signed()])),
    ("is_tensor", lambda L: L.tensor([L.is_tensor(L.zeros(1)), L.is_tensor(1.0)])),
    ("is_nonzero", lambda L: L.tensor([L.tensor([2.0]).is_nonzero(), L.is_nonzero(L.tensor(0))])),
    ("numel", lambda L: L.tensor(L.numel(L.zeros(2, 3)))),
    ("concat", lambda L: L.concat([L.ones(2), L.zeros(1)])),
    ("true_divide_ints", lambda L: L.true_divide(L.tensor([1, 3]), 2)),
    ("aliases", lambda L: L.stack([L.greater(L.arange(3), 1), L.less_equal(L.arange(3), 1),
                                   L.not_equal(L.arange(3), 1)])),
    ("remainder", lambda L: L.remainder(L.tensor([-3, 4]), 3)),
    ("bernoulli_of_0_and_1", lambda L: L.bernoulli(L.tensor([0.0, 1.0, 1.0]))),
    ("normal_shape", lambda L: L.tensor(L.normal(L.zeros(2, 3), 1.0).shape)),
    ("logical_not_of_ints", lambda L: L.logical_not(L.tensor([1, 0, 2]))),
    ("logical_not_of_floats", lambda L: L.tensor([1.5, 0.0, -0.0]).logical_not()),
    ("invert_of_ints_is_bitwise", lambda L: ~L.tensor([1, 0, 2])),
    ("number_first_keeps_float64", lambda L: L.add(0.1, L.tensor([1.0], dtype=L.float64))),
    ("pow_number_first", lambda L: L.pow(2.1, L.tensor([2.0], dtype=L.float64))),
    ("tensor_split_by_a_0d_count", lambda L: L.tensor([len(p) for p in L.arange(7).tensor_split(L.tensor(3))])),
    ("tensor_split_no_indices", lambda L: L.tensor([len(p) for p in L.arange(5).tensor_split([])])),
    ("tensor_split_keywords", lambda L: L.tensor([len(p) for p in L.arange(5).tensor_split(indices=[2])] +
                                                 [len(p) for p in L.arange(5).tensor_split(sections=2)])),
    ("repeat_interleave_counts_alone", lambda L: L.repeat_interleave(L.tensor([1, 2, 3]))),
    ("repeat_interleave_output_size",
     lambda L: L.tensor([1.0, 2.0]).repeat_interleave(L.tensor([1, 2]), dim=0, output_size=3)),
    ("uint8_prod_and_cumsum_are_int64", lambda L: L.cat([L.tensor([2, 3], dtype=L.uint8).prod().reshape(1),
                                                         L.tensor([200, 100], dtype=L.uint8).cumsum(0)])),
    ("square_of_bools_is_int64", lambda L: L.square(L.tensor([True, False]))),
    ("sign_of_bools", lambda L: L.sign(L.tensor([True, False]))),
    ("index_put_accumulate_ints", lambda L: L.zeros(3, dtype=L.int64).index_put_((L.tensor([0, 0]),),
                                                                                 L.tensor([1, 2]), accumulate=True)),
]


def _plain(v):
    if isinstance(v, (bool, int, float)):
        return np.asarray(v), type(v).__name__
    return v.numpy(), str(v.dtype).replace("torch.", "")


@needs_torch
@pytest.mark.parametrize("name, fn", VALUES, ids=[c[0] for c in VALUES])
def test_values_and_dtypes_match_torch(name, fn):
    (ours, our_dtype), (theirs, their_dtype) = _plain(fn(tg)), _plain(fn(torch))
    assert our_dtype == their_dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0, equal_nan=True)


INPLACE = [  # (name, fn(lib, x)) run on a non-leaf x = a * 1.0, so the write is recorded
    ("exp_", lambda L, x: x.exp_()), ("tanh_", lambda L, x: x.tanh_()), ("sigmoid_", lambda L, x: x.sigmoid_()),
    ("relu_", lambda L, x: x.relu_()), ("abs_", lambda L, x: x.abs_()), ("neg_", lambda L, x: x.neg_()),
    ("square_", lambda L, x: x.square_()), ("erf_", lambda L, x: x.erf_()),
    ("clamp_min_", lambda L, x: x.clamp_min_(0.2)), ("lerp_", lambda L, x: x.lerp_(L.ones(4, dtype=L.float64), 0.25)),
    ("floor_", lambda L, x: x.floor_()), ("tril_", lambda L, x: x.tril_()),
    ("addcmul_", lambda L, x: x.addcmul_(x.detach(), x.detach(), value=0.5)),
    ("index_fill_", lambda L, x: x.index_fill_(0, L.tensor([1]), 0.0)),
    ("scatter_", lambda L, x: x.scatter_(1, L.tensor([[3], [0], [1]]), L.full((3, 1), 2.0, dtype=L.float64))),
    ("scatter_add_", lambda L, x: x.scatter_add_(0, L.tensor([[2, 0, 1, 1]]), L.ones(1, 4, dtype=L.float64))),
    ("index_add_", lambda L, x: x.index_add_(1, L.tensor([0, 0]), L.ones(3, 2, dtype=L.float64))),
]


@needs_torch
@pytest.mark.parametrize("name, fn", INPLACE, ids=[c[0] for c in INPLACE])
def test_in_place_variants_match_torch(name, fn):
    results = []
    for lib in (tg, torch):
        a = lib.tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)
        x = a * 1.0
        out = fn(lib, x)
        assert out is x
        (x * lib.arange(12.0, dtype=lib.float64).reshape(3, 4)).sum().backward()
        results.append((x.detach().numpy(), a.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_flip_returns_a_copy_not_a_view():
    x = tg.arange(4.0)
    y = x.flip(0)
    y.add_(1)
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2, 3])


ERRORS = [
    ("einsum_operand_count", lambda: tg.einsum("ij,jk->ik", tg.ones(2, 2)), ValueError, "2 operands"),
    ("einsum_dims", lambda: tg.einsum("ijk->i", tg.ones(2, 2)), ValueError, "operand 0 has 2 dims"),
    ("einsum_sizes", lambda: tg.einsum("ij,jk", tg.ones(2, 3), tg.ones(2, 2)), ValueError, "size 3 and 2"),
    ("einsum_output_letter", lambda: tg.einsum("ij->k", tg.ones(2, 3)), ValueError, "output subscripts"),
    ("einsum_not_letters", lambda: tg.einsum("i1->i", tg.ones(2, 3)), ValueError, "letters"),
    ("tril_1d", lambda: tg.tril(tg.ones(3)), ValueError, "at least 2 dims"),
    ("diag_3d", lambda: tg.diag(tg.ones(2, 2, 2)), ValueError, "1-D or 2-D"),
    ("diagonal_same_dims", lambda: tg.ones(2, 2).diagonal(0, 1, 1), ValueError, "must differ"),
    ("roll_lengths", lambda: tg.roll(tg.ones(2, 2), (1, 1), 0), ValueError, "2 shifts for 1 dims"),
    ("movedim_lengths", lambda: tg.movedim(tg.ones(2, 2), (0, 1), 0), ValueError, "differ in length"),
    ("unflatten_sizes", lambda: tg.ones(2, 6).unflatten(1, (4, 2)), ValueError, "do not multiply"),
    ("select_range", lambda: tg.ones(2, 3).select(1, 3), IndexError, "out of range"),
    ("scatter_index_range", lambda: tg.zeros(2, 2).scatter(0, tg.tensor([[2, 0]]), tg.ones(1, 2)), IndexError,
     "out of range"),
    ("scatter_index_dtype", lambda: tg.zeros(2).scatter(0, tg.tensor([0.0]), tg.ones(1)), TypeError, "integer"),
    ("scatter_src_and_value", lambda: tg.zeros(2).scatter(0, tg.tensor([0]), tg.ones(1), value=1.0), TypeError,
     "src"),
    ("scatter_reduce", lambda: tg.zeros(2).scatter(0, tg.tensor([0]), tg.ones(1), reduce="max"), ValueError,
     "reduce"),
    ("index_add_shape", lambda: tg.zeros(3, 2).index_add(0, tg.tensor([0, 1]), tg.ones(3, 2)), ValueError,
     "one slice per index"),
    ("repeat_interleave_counts", lambda: tg.ones(3).repeat_interleave(tg.tensor([1, 2])), ValueError, "one per"),
    ("outer_2d", lambda: tg.outer(tg.ones(2, 2), tg.ones(2)), ValueError, "input must be 1-D"),
    ("mv_1d", lambda: tg.mv(tg.ones(2), tg.ones(2)), ValueError, "input must be 2-D"),
    ("linspace_steps", lambda: tg.linspace(0, 1, -1), ValueError, "steps"),
    ("meshgrid_indexing", lambda: tg.meshgrid(tg.ones(2), indexing="ab"), ValueError, "indexing"),
    ("sum_to_size", lambda: tg.ones(2, 3).sum_to_size(4), ValueError, "does not broadcast"),
    ("tensor_split_sections", lambda: tg.ones(3).tensor_split(0), ValueError, "positive"),
    ("movedim_out_of_range", lambda: tg.movedim(tg.ones(2, 3, 4), 3, 0), IndexError, "out of range"),
    ("movedim_repeated", lambda: tg.movedim(tg.ones(2, 3, 4), (0, 1), (2, 2)), ValueError, "repeat"),
    ("einsum_repeated_letter_sizes", lambda: tg.einsum("ii", tg.ones(2, 1)), ValueError, "equal sizes"),
    ("repeat_interleave_output_size", lambda: tg.ones(2).repeat_interleave(2, output_size=3), ValueError,
     "output_size"),
    ("invert_of_floats", lambda: ~tg.ones(2), TypeError, "integer or bool"),
]


@pytest.mark.parametrize("name, call, error, words", ERRORS, ids=[c[0] for c in ERRORS])
def test_bad_arguments_raise_clear_errors(name, call, error, words):
    with pytest.raises(error, match=words):
        call()


@needs_torch
def test_every_added_name_is_pytorchs():
    invented = [n for n in torch_names.torch_functions if not hasattr(torch, n)]
    assert invented == []
    added = [*torch_names.METHODS, *(f"{n}_" for n in torch_names.INPLACE)]
    methods = [n for n in added if not hasattr(torch.Tensor, n)]
    assert methods == []


def test_compiled_cells_refuse_the_new_ops_by_name():
    class Cell(tg.nn.Module):
        state_size = 3

        def __init__(self):
            super().__init__()
            self.w = tg.nn.Linear(2, 3)

        def forward(self, x, h):
            return (self.w(x) + h).erf()

    layer = tg.nn.Recurrent(Cell(), impl="fused")
    with pytest.raises(TypeError, match="unrolled"):
        layer(tg.randn(4, 2, 2))
