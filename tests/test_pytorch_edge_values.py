"""PyTorch's values at the edges: gradients at 0 (std of a constant row, p-norms, 0 ** 0), tensor
clamp bounds, NaN in maximum and descending sorts, integer promotion (int ** float, int clamped to
float bounds, cat of ints with floats, masked_fill keeping the dtype), bitwise & | ^ on integers,
casts to integers leaving the graph, and the arguments PyTorch code passes (randint(high, size),
div's rounding_mode, inplace=, argmax(keepdim=True), inference_mode, f"{loss:.3f}"). Each case
states PyTorch's answer and, when PyTorch is installed, is also run under it."""
import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.nn.functional as tgF

nan = float("nan")


def _grads(lib, fn, *values):
    xs = [lib.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    fn(lib, *xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def _F(lib):
    return tgF if lib is tg else lib.nn.functional


GRADIENTS = [  # (name, fn(lib, *xs), inputs, PyTorch's gradients)
    ("std_of_a_constant_row", lambda L, x: x.std(dim=1), ([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]],),
     [[[0.0, 0.0, 0.0], [-0.4364357804719848, -0.1091089451179962, 0.5455447255899810]]]),
    ("std_of_a_constant", lambda L, x: x.std(), ([2.0, 2.0],), [[0.0, 0.0]]),
    ("norm_3_at_zero", lambda L, x: x.norm(p=3), ([0.0, 0.0],), [[0.0, 0.0]]),
    ("norm_2_at_zero", lambda L, x: x.norm(dim=1), ([[0.0, 0.0], [3.0, 4.0]],), [[[0.0, 0.0], [0.6, 0.8]]]),
    ("pow_0_to_the_0", lambda L, a, b: a ** b, ([0.0, 2.0], [0.0, 3.0]), [[0.0, 12.0], [0.0, 8 * np.log(2)]]),
    ("clamp_with_tensor_bounds", lambda L, x, lo, hi: x.clamp(lo, hi),
     ([-2.0, 0.5, 3.0], [-1.0] * 3, [1.0] * 3), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    ("nll_loss_with_every_target_ignored", lambda L, x: _F(L).nll_loss(x, L.tensor([-100, -100])),
     ([[-1.0, -2.0], [-3.0, -4.0]],), [[[0.0, 0.0], [0.0, 0.0]]]),
    ("weighted_cross_entropy_with_every_target_ignored",
     lambda L, x: _F(L).cross_entropy(x, L.tensor([1, 1]), weight=L.tensor([1.0, 2.0], dtype=L.float64),
                                      ignore_index=1),
     ([[-1.0, -2.0], [-3.0, -4.0]],), [[[0.0, 0.0], [0.0, 0.0]]]),
    ("smoothed_weighted_cross_entropy_with_every_target_ignored",
     lambda L, x: _F(L).cross_entropy(x, L.tensor([1, 1]), weight=L.tensor([1.0, 2.0], dtype=L.float64),
                                      ignore_index=1, label_smoothing=0.2),
     ([[-1.0, -2.0], [-3.0, -4.0]],), [[[0.0, 0.0], [0.0, 0.0]]]),
    ("norm_half_at_zero", lambda L, x: x.norm(0.5), ([0.0, 1.0, 2.0],), [[0.0, 2.414213562373095, 1.707106781186548]]),
    ("norm_half_of_zeros", lambda L, x: x.norm(0.5), ([0.0, 0.0],), [[0.0, 0.0]]),
    ("hardswish_at_its_kinks", lambda L, x: _F(L).hardswish(x), ([-3.0, 3.0, -4.0, 4.0, 0.0],),
     [[0.0, 1.0, 0.0, 1.0, 0.5]]),
    ("bce_with_logits_pos_weight_at_a_zero_logit",
     lambda L, x: _F(L).binary_cross_entropy_with_logits(x, L.tensor([0.0, 0.3, 1.0, 0.5], dtype=L.float64),
                                                         pos_weight=L.tensor([3.0, 1.0, 0.5, 2.0], dtype=L.float64)),
     ([0.0, 0.0, 0.0, 0.0],), [[0.125, 0.05, -0.0625, -0.0625]]),
]


@pytest.mark.parametrize("name, fn, inputs, expected", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradients_at_the_edges_are_pytorchs(name, fn, inputs, expected):
    for got, want in zip(_grads(tg, fn, *inputs), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, fn, inputs, expected", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradients_at_the_edges_match_torch(name, fn, inputs, expected):
    torch = pytest.importorskip("torch")
    for got, want in zip(_grads(tg, fn, *inputs), _grads(torch, fn, *inputs)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


VALUES = [  # (name, fn(lib) -> tensor, PyTorch's values, PyTorch's dtype name)
    ("int_to_a_float_power", lambda L: L.tensor([4, 9]) ** 0.5, [2.0, 3.0], "float32"),
    ("int_clamped_to_float_bounds", lambda L: L.tensor([1, 2, 3]).clamp(1.5, 2.5), [1.5, 2.0, 2.5], "float32"),
    ("clamp_takes_a_float64_bound", lambda L: L.tensor([1.0, 2.0]).clamp(L.tensor([1.5], dtype=L.float64)),
     [1.5, 2.0], "float64"),
    ("maximum_keeps_nan", lambda L: L.maximum(L.tensor([nan, 1.0]), L.tensor([1.0, 2.0])), [nan, 2.0], "float32"),
    ("minimum_keeps_nan", lambda L: L.minimum(L.tensor([1.0, nan]), L.tensor([2.0, 0.0])), [1.0, nan], "float32"),
    ("descending_sort_puts_nan_first", lambda L: L.tensor([3.0, nan, 1.0]).sort(descending=True).values,
     [nan, 3.0, 1.0], "float32"),
    ("topk_counts_nan_largest", lambda L: L.tensor([3.0, nan, 1.0]).topk(2).values, [nan, 3.0], "float32"),
    ("descending_sort_of_unsigned", lambda L: L.tensor([0, 3, 255], dtype=L.uint8).sort(descending=True).values,
     [255, 3, 0], "uint8"),
    ("bitwise_and", lambda L: L.tensor([3, 6]) & L.tensor([1, 3]), [1, 2], "int64"),
    ("bitwise_or", lambda L: L.tensor([4, 1]) | L.tensor([1, 1]), [5, 1], "int64"),
    ("bitwise_xor", lambda L: L.tensor([6, 1]) ^ L.tensor([3, 1]), [5, 0], "int64"),
    ("logical_and_of_bools", lambda L: L.tensor([True, True]) & L.tensor([True, False]), [True, False], "bool"),
    ("cat_of_int_and_float", lambda L: L.cat([L.tensor([1]), L.tensor([1.5])]), [1.0, 1.5], "float32"),
    ("stack_of_int_and_float", lambda L: L.stack([L.tensor([1]), L.tensor([1.5])]), [[1.0], [1.5]], "float32"),
    ("masked_fill_keeps_int", lambda L: L.tensor([1, 2]).masked_fill(L.tensor([True, False]), 2.7), [2, 2], "int64"),
    ("masked_fill_keeps_bool", lambda L: L.tensor([True, False]).masked_fill(L.tensor([True, False]), 0),
     [False, False], "bool"),
    ("argmax_keepdim_without_dim", lambda L: L.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(keepdim=True), [[2]], "int64"),
    ("floor_division", lambda L: L.tensor([7.0, -7.0]).div(2, rounding_mode="floor"), [3.0, -4.0], "float32"),
    ("trunc_division_of_ints", lambda L: L.tensor([7, -7]).div(2, rounding_mode="trunc"), [3, -3], "int64"),
    ("relu_in_place", lambda L: _F(L).relu(L.tensor([-1.0, 2.0]), inplace=True), [0.0, 2.0], "float32"),
    ("dropout_in_eval_in_place", lambda L: _F(L).dropout(L.tensor([1.0, 2.0]), 0.5, training=False, inplace=True),
     [1.0, 2.0], "float32"),
    ("arange_by_keyword", lambda L: L.arange(end=3), [0, 1, 2], "int64"),
    ("legacy_constructor_of_ints_is_float", lambda L: L.Tensor([1, 2]), [1.0, 2.0], "float32"),
    ("legacy_constructor_of_sizes", lambda L: L.Tensor(2, 3).zero_(), [[0.0] * 3] * 2, "float32"),
    ("legacy_constructor_empty", lambda L: L.Tensor(), [], "float32"),
    ("copy_of_floats_into_ints_truncates", lambda L: L.zeros(3, dtype=L.int64).copy_(L.tensor([1.7, -2.7, 3.2])),
     [1, -2, 3], "int64"),
    ("fill_of_a_float_into_ints_truncates", lambda L: L.zeros(2, dtype=L.int32).fill_(2.9), [2, 2], "int32"),
    ("uint8_sum_is_int64", lambda L: L.tensor([200, 100], dtype=L.uint8).sum(), 300, "int64"),
    ("bool_sum_over_a_dim_is_int64", lambda L: L.tensor([[True, False], [True, True]]).sum(0), [2, 1], "int64"),
    ("int_selects_before_the_index_array", lambda L: L.arange(60).reshape(3, 4, 5)[0, :, [1, 2]],
     [[1, 2], [6, 7], [11, 12], [16, 17]], "int64"),
    ("int_selects_first_after_none", lambda L: L.arange(60).reshape(3, 4, 5)[None, 1, :, [0, 4]].sum(-1),
     [[44, 54, 64, 74]], "int64"),
    ("a_0d_tensor_index_selects_first", lambda L: L.arange(24).reshape(2, 3, 4)[L.tensor(1), :, [0, 1]],
     [[12, 13], [16, 17], [20, 21]], "int64"),
    ("legacy_constructor_of_a_size", lambda L: L.Tensor(L.Size([2, 3])).zero_(), [[0.0] * 3] * 2, "float32"),
    ("int_after_a_bool_mask", lambda L: L.arange(24).reshape(2, 3, 4)[L.tensor([True, False]), :, 1], [[1, 5, 9]],
     "int64"),
]


@pytest.mark.parametrize("name, fn, expected, dtype", VALUES, ids=[v[0] for v in VALUES])
def test_values_and_dtypes_at_the_edges_are_pytorchs(name, fn, expected, dtype):
    out = fn(tg)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.numpy(), np.array(expected, dtype=dtype))


@pytest.mark.parametrize("name, fn, expected, dtype", VALUES, ids=[v[0] for v in VALUES])
def test_values_and_dtypes_at_the_edges_match_torch(name, fn, expected, dtype):
    torch = pytest.importorskip("torch")
    want = fn(torch)
    assert str(want.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(fn(tg).numpy(), want.numpy())


def test_a_cast_to_integers_leaves_the_graph():
    a = tg.tensor([1.5, 2.5], requires_grad=True)
    for cast in (a.long(), a.int(), a.bool(), a.to(tg.int64)):
        assert not cast.requires_grad and cast.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        (a.long() * 2).sum().backward()
    assert a.double().requires_grad


def test_gather_and_index_select_refuse_negative_indices():
    x = tg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="gather: index out of range for dim 0 of size 3"):
        x.gather(0, tg.tensor([-1]))
    with pytest.raises(IndexError, match="index_select: index out of range for dim 0 of size 3"):
        x.index_select(0, tg.tensor([-1]))


def test_bitwise_operators_refuse_floats():
    with pytest.raises(TypeError, match="bitwise_and: needs integer or bool tensors, got float32"):
        tg.tensor([1.0]) & tg.tensor([1.0])


def test_pytorch_program_idioms():
    assert tg.randint(10, (3,)).shape == (3,) and tg.randint(10, (50,)).numpy().max() < 10
    assert tg.randint(5, 7, (20,)).numpy().min() >= 5
    assert f"{tg.tensor(1.23456):.2f}" == "1.23" and f"{tg.tensor([2.5]):.1f}" == "2.5"
    x = tg.ones(2, 3, 4)
    assert isinstance(x.shape[1:], tg.Size) and x.shape[1:].numel() == 12 and x.shape[0] == 2
    with tg.inference_mode():
        assert not (tg.tensor([1.0], requires_grad=True) * 2).requires_grad
    with tg.inference_mode(False):
        assert (tg.tensor([1.0], requires_grad=True) * 2).requires_grad
    assert tg.tensor([[1.0, 2.0], [3.0, 5.0]]).mean(dtype=tg.float64).dtype == np.float64
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor', got 'round'"):
        tg.tensor([1.0]).div(2, rounding_mode="round")


@pytest.mark.parametrize("call", [lambda L: L.tensor([1, 2]) // 0, lambda L: L.tensor([1, 2]) % 0,
                                  lambda L: L.tensor([3]).div(L.tensor([0]), rounding_mode="floor"),
                                  lambda L: L.tensor([3]).div(0, rounding_mode="trunc")])
def test_integer_division_by_zero_raises_as_in_pytorch(call):
    with pytest.raises(RuntimeError, match="ZeroDivisionError|division by zero"):
        call(tg)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        call(torch)


@pytest.mark.parametrize("call", [lambda L: L.tensor([True]) - 1, lambda L: L.tensor([1]) - L.tensor([True]),
                                  lambda L: -L.tensor([True, False])])
def test_bool_subtraction_and_negation_are_refused_as_in_pytorch(call):
    with pytest.raises(TypeError, match="bool tensor is not supported"):
        call(tg)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="bool tensor is not supported"):
        call(torch)


def test_true_division_of_unsigned_ints_by_a_negative_number_is_a_float():
    out = tg.tensor([1, 6], dtype=tg.uint8) / -3
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), [-1 / 3, -2.0], rtol=1e-6)


def test_writes_with_ints_and_index_arrays_follow_pytorchs_order():
    torch = pytest.importorskip("torch")
    results = []
    for L in (tg, torch):
        a = L.ones(3, 4, 5, dtype=L.float64, requires_grad=True)
        v = L.arange(8.0, dtype=L.float64).reshape(4, 2).requires_grad_()
        y = a * 1.0
        y[1, :, [0, 4]] = v
        (y * L.arange(60.0, dtype=L.float64).reshape(3, 4, 5)).sum().backward()
        plain = L.zeros(2, 3, 4)
        plain[0, [1, 2], :] = L.arange(8.0).reshape(2, 4)
        results.append([y.detach().numpy(), a.grad.numpy(), v.grad.numpy(), plain.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
