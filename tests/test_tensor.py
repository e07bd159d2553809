"""Tensor basics: factories, dtypes, seeding, conversions, repr, comparisons, max/min, indexing."""
import numpy as np
import pytest

import tinygrad_rnn as tg


# --------------------------------------------------------------------------------------- factories

def test_tensor_from_python_data():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32 and t.shape == (2, 2) and t.ndim == 2
    assert tg.tensor([1, 2, 3]).dtype == np.int64
    assert tg.tensor(3).dtype == np.int64
    assert tg.tensor(2.5).dtype == np.float32 and tg.tensor(2.5).shape == ()
    assert tg.tensor([True, False]).dtype == np.bool_
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor([1.5], dtype=np.float64).dtype == np.float64


def test_tensor_from_numpy_keeps_dtype_and_copies():
    a64 = np.array([1.0, 2.0])
    t = tg.tensor(a64)
    assert t.dtype == np.float64
    a64[0] = 100.0
    assert t._data[0] == 1.0  # a copy, as torch.tensor
    assert tg.tensor(np.array([1.0], np.float32)).dtype == np.float32
    assert tg.tensor(np.array([1, 2], np.int32)).dtype == np.int32
    assert tg.tensor(np.float64(2.0)).dtype == np.float64
    assert tg.tensor(tg.tensor([1.0, 2.0])).dtype == np.float32


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.randn, tg.rand])
def test_size_as_varargs_or_tuple(factory):
    a, b, c = factory(2, 3), factory((2, 3)), factory([2, 3])
    assert a.shape == b.shape == c.shape == (2, 3)
    assert a.dtype == b.dtype == np.float32
    assert factory(()).shape == () and factory(0, 4).shape == (0, 4)
    assert factory(2, dtype=np.float64).dtype == np.float64
    t = factory(2, 2, requires_grad=True)
    assert t.requires_grad and t.is_leaf


def test_zeros_ones_values():
    np.testing.assert_array_equal(tg.zeros(2, 3)._data, np.zeros((2, 3)))
    np.testing.assert_array_equal(tg.ones(2, 3)._data, np.ones((2, 3)))
    np.testing.assert_array_equal(tg.full((2,), 7.0)._data, [7.0, 7.0])
    # torch.full infers the dtype from the fill value: int64 for an int, bool for a bool
    assert (tg.full((2,), 7).dtype, tg.full((2,), True).dtype, tg.full((2,), 7.0).dtype) == (
        np.int64, np.bool_, tg.get_default_dtype())
    assert tg.full((2,), 7, dtype=tg.float64).dtype == np.float64


def test_rand_and_randn_ranges():
    u = tg.rand(1000)
    assert u._data.min() >= 0.0 and u._data.max() < 1.0
    n = tg.randn(10000, dtype=np.float64)._data
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1.0) < 0.05


def test_factory_rejects_bad_sizes():
    with pytest.raises(ValueError):
        tg.zeros(-1, 2)
    with pytest.raises(ValueError):
        tg.ones(2.5)


def test_arange():
    a = tg.arange(5)
    assert a.dtype == np.int64 and a.tolist() == [0, 1, 2, 3, 4]
    assert tg.arange(2, 8, 3).tolist() == [2, 5]
    f = tg.arange(0, 1, 0.25)
    assert f.dtype == np.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tg.arange(3, dtype=np.float64).dtype == np.float64
    assert tg.arange(5, 0, -2).tolist() == [5, 3, 1]
    with pytest.raises(ValueError, match="step"):
        tg.arange(0, 3, 0)


def test_like_factories():
    x = tg.randn(2, 3, dtype=np.float64)
    for f, v in ((tg.zeros_like, 0.0), (tg.ones_like, 1.0)):
        y = f(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and np.all(y._data == v)
        assert f(x, dtype=np.float32).dtype == np.float32
    assert tg.zeros_like(x, requires_grad=True).requires_grad


def test_default_dtype(default_dtype):
    assert tg.get_default_dtype() == np.float32
    default_dtype(tg.float64)
    assert tg.tensor([1.0]).dtype == np.float64
    assert tg.zeros(2).dtype == tg.randn(2).dtype == tg.arange(0.0, 1.0, 0.5).dtype == np.float64
    assert tg.tensor(np.array([1.0], np.float32)).dtype == np.float32  # arrays keep theirs
    assert tg.tensor([1, 2]).dtype == np.int64
    default_dtype(np.float32)
    assert tg.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        tg.set_default_dtype(np.int64)


def test_python_numbers_take_the_tensor_dtype():
    x = tg.tensor([1.0, 2.0])  # float32
    for y in (x + 1.5, 1.5 * x, x / 3, 2.0 - x, x ** 2, 2.0 ** x, x - 1):
        assert y.dtype == np.float32
    y = tg.tensor([1.0, 2.0], dtype=np.float64) * 1.5
    assert y.dtype == np.float64


# --------------------------------------------------------------------------------------- seeding

def test_manual_seed_determinism():
    tg.manual_seed(123)
    a, b = tg.randn(4, 5), tg.rand(3)
    tg.manual_seed(123)
    a2, b2 = tg.randn(4, 5), tg.rand(3)
    np.testing.assert_array_equal(a._data, a2._data)
    np.testing.assert_array_equal(b._data, b2._data)
    tg.manual_seed(124)
    assert not np.array_equal(tg.randn(4, 5)._data, a._data)
    with pytest.raises(TypeError):
        tg.manual_seed(1.5)


def test_seed_fixture(seed):
    seed(7)
    a = tg.randn(3)
    seed(7)
    np.testing.assert_array_equal(tg.randn(3)._data, a._data)


# --------------------------------------------------------------------------------------- conversions

def test_item_numpy_tolist_and_properties():
    t = tg.tensor([[1.0, 2.0, 3.0]])
    assert t.shape == (1, 3) and t.ndim == 2 and t.dim() == 2 and t.numel() == 3 and len(t) == 1
    assert t.size() == (1, 3) and t.size(1) == 3
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.float32
    assert t.tolist() == [[1.0, 2.0, 3.0]]
    assert tg.tensor([[2.5]]).item() == 2.5 and isinstance(tg.tensor(3).item(), int)
    assert float(tg.tensor(1.5)) == 1.5 and int(tg.tensor(4)) == 4
    with pytest.raises(ValueError, match=r"\(1, 3\)"):
        t.item()
    with pytest.raises(TypeError):
        len(tg.tensor(1.0))


def test_numpy_of_requires_grad_tensor_needs_detach():
    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_dtype_conversions():
    x = tg.tensor([1.5, -2.5], requires_grad=True)
    d = x.double()
    assert d.dtype == np.float64 and d.requires_grad
    d.sum().backward()
    assert x.grad.dtype == np.float32
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.float() is x and x.to(np.float64).dtype == np.float64


def test_repr():
    assert repr(tg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tg.tensor([1.0], dtype=np.float64)) == "tensor([1.], dtype=float64)"
    assert repr(tg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    r = repr(tg.tensor([1.0], requires_grad=True) * 2)
    assert r.startswith("tensor([2.]") and "grad_fn=<Mul>" in r


def test_requires_grad_refused_on_integer_and_bool_tensors():
    for make in (lambda: tg.tensor([1, 2], requires_grad=True),
                 lambda: tg.zeros(2, dtype=np.int64, requires_grad=True),
                 lambda: tg.tensor([True], requires_grad=True),
                 lambda: tg.arange(3).requires_grad_()):
        with pytest.raises(TypeError, match="floating"):
            make()


def test_requires_grad_flags():
    x = tg.tensor([1.0])
    assert not x.requires_grad and x.is_leaf and x.grad is None
    x.requires_grad_()
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="in-place"):
        x.zero_()
    with tg.no_grad():
        x.zero_()
    assert x._data[0] == 0.0


def test_integer_ops_from_integer_tensors():
    """Ops on integer tensors: no gradient, results take PyTorch's dtypes."""
    a = tg.arange(4)
    assert (a * 2).dtype == np.int64 and not (a * 2).requires_grad
    assert a.sum().dtype == np.int64 and a.sum().item() == 6
    assert a.mean().dtype == np.float32 and a.mean().item() == 1.5
    assert a.exp().dtype == np.float32


def test_integer_mixed_with_float_takes_the_float_dtype():
    """As in PyTorch (NumPy alone would promote int64 with float32 to float64)."""
    a = tg.arange(4)
    assert (a / 2).dtype == np.float32 and (a / 2).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert (a + 0.5).dtype == (0.5 * a).dtype == (a - 1.5).dtype == np.float32
    x32 = tg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x32 * a + a
    assert y.dtype == np.float32
    y.sum().backward()
    assert x32.grad.dtype == np.float32 and x32.grad.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert (tg.tensor([1.0, 2.0], dtype=np.float64) * tg.tensor([True, False])).dtype == np.float64
    assert (a / tg.tensor([1, 2, 3, 4])).dtype == np.float32


@pytest.mark.parametrize("dims, zero_d, expected", [
    (np.float32, np.float64, np.float32), (np.float64, np.float32, np.float64), (np.int32, np.int64, np.int32),
    (np.int64, np.float64, np.float64)])
def test_a_zero_dim_tensor_does_not_widen_a_tensor_with_dims_of_its_category(dims, zero_d, expected):
    """PyTorch's rule: f32 (n,) * f64 () is f32; a higher category (a float beside ints) still wins."""
    x = tg.tensor(np.arange(1, 4, dtype=dims), requires_grad=dims == np.float32)
    s = tg.tensor(np.asarray(2, dtype=zero_d), requires_grad=zero_d == np.float64)
    for y in (x * s, s * x, x + s, s - x, tg.maximum(x, s), tg.where(x > 1, x, s)):
        assert y.dtype == expected
    if s.requires_grad:
        (x * s).sum().backward()
        assert s.grad.dtype == zero_d and s.grad.item() == 6.0  # the gradient comes back in its own dtype


# --------------------------------------------------------------------------------------- comparisons

def test_comparisons_give_bool_tensors():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r, want in ((x > 2, [0, 0, 1]), (x >= 2, [0, 1, 1]), (x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]),
                    (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1]), (2 < x, [0, 0, 1]),
                    (x > np.array([0.0, 5.0, 1.0]), [1, 0, 1]), (x == x, [1, 1, 1])):
        assert isinstance(r, tg.Tensor) and r.dtype == np.bool_ and not r.requires_grad
        assert r.tolist() == [bool(v) for v in want]
    assert (~(x > 2)).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x > 1)
    assert bool(tg.tensor([3.0]) > 1)


# --------------------------------------------------------------------------------------- max / min

def test_max_dim_returns_values_and_indices():
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 4.0]], requires_grad=True)
    v, i = x.max(dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0] and i.dtype == np.int64
    assert not i.requires_grad and v.requires_grad
    v, i = x.max(1, keepdim=True)
    assert v.shape == i.shape == (2, 1)
    v, i = tg.min(x, dim=0)
    assert v.tolist() == [1.0, 0.0, 2.0] and i.tolist() == [0, 1, 0]
    v, i = x.max(dim=-2)
    assert i.tolist() == [1, 0, 1]


def test_max_all_is_a_0d_tensor():
    x = tg.tensor([[1.0, 5.0], [7.0, 0.0]], requires_grad=True)
    m = x.max()
    assert isinstance(m, tg.Tensor) and m.shape == () and m.item() == 7.0
    m.backward()
    np.testing.assert_array_equal(x.grad._data, [[0, 0], [1, 0]])
    assert x.min().item() == 0.0 and tg.max(x).item() == 7.0


def test_max_of_0d_tensor_along_dim():
    x = tg.tensor(3.0, requires_grad=True)
    v, i = x.max(dim=0)
    assert v.item() == 3.0 and i.item() == 0 and i.dtype == np.int64


def test_max_ties_share_gradient_like_torch_amax():
    x = tg.tensor([2.0, 1.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad._data, [0.5, 0.0, 0.5])
    y = tg.tensor([[2.0, 2.0]], requires_grad=True)
    v, i = y.max(dim=1)
    v.sum().backward()
    assert y.grad._data.sum() == 1.0 and y.grad._data[0, i.item()] == 1.0  # max(dim): to the index


def test_max_of_empty_tensor_raises():
    with pytest.raises(ValueError, match=r"zero elements.*\(0, 3\)"):
        tg.zeros(0, 3).max()


# --------------------------------------------------------------------------------------- indexing

def test_indexing_with_integer_and_bool_tensors():
    x = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    rows = tg.tensor([2, 0, 2])
    assert x[rows].tolist() == [[8, 9, 10, 11], [0, 1, 2, 3], [8, 9, 10, 11]]
    assert x[rows, tg.tensor([1, 1, 3])].tolist() == [9.0, 1.0, 11.0]
    assert x[x > 8].tolist() == [9.0, 10.0, 11.0]
    assert x[tg.tensor(1)].tolist() == [4.0, 5.0, 6.0, 7.0]  # a 0-d integer tensor
    assert x[[0, 2]].shape == (2, 4)  # a list
    assert x[1, tg.tensor([True, False, True, False])].tolist() == [4.0, 6.0]
    x[rows].sum().backward()
    np.testing.assert_array_equal(x.grad._data[:, 0], [1.0, 0.0, 2.0])  # repeated row 2 accumulates


def test_basic_indexing():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x[1].shape == (3, 4) and x[-1, -1, -1].item() == 23.0
    assert x[:, ::-1, 1:3].shape == (2, 3, 2)
    np.testing.assert_array_equal(x[:, ::-1]._data, x._data[:, ::-1])
    assert x[..., 0].shape == (2, 3) and x[None].shape == (1, 2, 3, 4) and x[:, None, 0].shape == (2, 1, 4)
    assert x[0, 5:].shape == (0, 4)


def test_setitem_under_no_grad():
    x = tg.zeros(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 1.0
    with tg.no_grad():
        x[0, tg.tensor([0, 2])] = 5.0
    assert x.tolist() == [[5.0, 0.0, 5.0], [0.0, 0.0, 0.0]]


def test_tensor_as_python_index():
    items = ["a", "b", "c"]
    assert items[tg.tensor(2)] == "c"
    with pytest.raises(TypeError):
        items[tg.tensor(1.0)]


def test_views_and_clone():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.T.shape == (3, 2) and x.view(3, 2).shape == (3, 2) and x.reshape(-1).shape == (6,)
    assert x.view_as(tg.zeros(3, 2)).shape == (3, 2)
    c = x.clone()
    assert c is not x and c.requires_grad and not np.shares_memory(c._data, x._data)
    assert x.unsqueeze(0).expand(4, 2, 3).shape == (4, 2, 3)
    assert x.expand_as(tg.zeros(5, 2, 3)).shape == (5, 2, 3)


def test_inplace_operators_update_parameters_under_no_grad():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w * w).sum().backward()
    data = w._data
    with tg.no_grad():
        w -= 0.5 * w.grad
        w *= 2.0
    assert w._data is data and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w._data, [0.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1.0
    np.testing.assert_allclose(w._data, [0.0, 0.0, 0.0])


def test_sum_over_empty_dim_tuple_reduces_everything_as_pytorch():
    x = tg.arange(6).reshape(2, 3)
    assert x.sum(dim=()).item() == 15
    assert x.sum(dim=(), keepdim=True).shape == (1, 1)


def test_item_and_bool_of_several_elements_raise_what_pytorch_raises():
    """RuntimeError in PyTorch; a ValueError here too (the library's rule for bad input)."""
    for call in (lambda: tg.tensor([1.0, 2.0]).item(), lambda: bool(tg.tensor([1.0, 2.0])), lambda: bool(tg.zeros(0))):
        with pytest.raises(RuntimeError):
            call()
        with pytest.raises(ValueError):
            call()


def test_pytorchs_refusals_and_small_answers():
    """arange with bounds and step of opposite signs, string data and retain_grad without grad
    are refused, as in PyTorch; t == None is False; retains_grad says whether retain_grad ran."""
    with pytest.raises(ValueError, match="disagree in sign"):
        tg.arange(0, 5, -1)
    assert tg.arange(5, 0, -2).tolist() == [5, 3, 1] and tg.arange(3, 3).tolist() == []
    with pytest.raises(ValueError, match="expected numbers"):
        tg.tensor(["a", "b"])
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).retain_grad()
    assert (tg.tensor([1.0]) == None) is False and (tg.tensor([1.0]) != None) is True  # noqa: E711
    x = tg.tensor([1.0], requires_grad=True)
    y = x * 2
    assert not y.retains_grad and not x.retains_grad
    y.retain_grad()
    assert y.retains_grad
