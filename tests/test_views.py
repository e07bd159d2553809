"""Views and in-place writes through them: a write through a view reaches its base's gradient (as
PyTorch's CopySlices), a view used after its base changed follows the new values, views share their
base's version counter, and results that are copies (advanced indexing, reshape of a transposed
tensor) stay copies. Checked by finite differences (float64) and, when installed, against PyTorch."""
import numpy as np
import pytest

import tinygrad_rnn as tg


def _row_scaled(L, x):
    y = x * 2
    y[0].mul_(3)
    return y * y


def _reshaped(L, x):
    y = x * 1
    y.reshape(6)[:2].mul_(4)
    return y * x


def _transposed(L, x):
    y = x * 1
    y.t().mul_(x.t())
    return y * x


def _view_of_a_view(L, x):
    y = x * 1
    y[1][1:].add_(x[0, :2] ** 2)
    return y.exp()


def _element(L, x):
    y = x * 1
    y[0, 1].mul_(x[1, 2])
    return y


def _sibling_made_before(L, x):
    y = x * 1
    column = y[:, 1]
    y[0].mul_(3)
    return column * column


def _base_written_after(L, x):
    y = x * 1
    row = y[1]
    y.mul_(x)
    return row * row


def _buffer_filled_by_rows(L, x):
    buf = L.zeros(3, 2, 3, dtype=L.float64)
    buf[0].copy_(x)
    buf[2].copy_(x * x)
    return buf.sum(0) + buf[2]


def _assignment_into_a_view(L, x):
    y = x * 1
    y[1][0] = x[0, 0] * 7
    return y * x


def _unsqueezed_view(L, x):
    y = x * 1
    row = y[0]
    row.unsqueeze_(0)
    row.mul_(x[1])
    return y


def _advanced_index_is_a_copy(L, x):
    y = x * 1
    y[[1, 0]].mul_(5)
    return y * x


def _reshape_of_a_transpose_is_a_copy(L, x):
    y = x * 1
    y.t().reshape(6)[0].mul_(9)
    return y * x


PARITY = [_row_scaled, _reshaped, _transposed, _view_of_a_view, _element, _sibling_made_before,
          _base_written_after, _buffer_filled_by_rows, _assignment_into_a_view, _unsqueezed_view,
          _advanced_index_is_a_copy, _reshape_of_a_transpose_is_a_copy]


def _split_piece(L, x):
    y = x * 1
    y.split(1, 0)[1].mul_(x[0])
    return y


def _chunk_piece(L, x):
    y = x * 1
    y.chunk(3, 1)[2].add_(x[:, :1] ** 3)
    return y


def _unbound_row(L, x):
    y = x * 1
    rows = y.unbind(0)
    rows[0].mul_(x[1])
    return rows[1] * y


MULTIPLE_VIEWS = [_split_piece, _chunk_piece, _unbound_row]  # PyTorch refuses these; here they work


def _x(lib=tg):
    return lib.tensor(np.linspace(-0.9, 1.3, 6).reshape(2, 3), dtype=lib.float64, requires_grad=True)


@pytest.mark.parametrize("case", PARITY + MULTIPLE_VIEWS, ids=lambda c: c.__name__)
def test_writes_through_views_pass_gradcheck(case):
    assert tg.gradcheck(lambda x: case(tg, x), (_x(),))


@pytest.mark.parametrize("case", [_row_scaled, _view_of_a_view, _sibling_made_before, _chunk_piece],
                         ids=lambda c: c.__name__)
def test_writes_through_views_pass_gradgradcheck(case):
    assert tg.gradgradcheck(lambda x: case(tg, x), (_x(),))


@pytest.mark.parametrize("case", PARITY, ids=lambda c: c.__name__)
def test_writes_through_views_match_torch(case):
    torch = pytest.importorskip("torch")
    ours, theirs = _x(), _x(torch)
    out, expected = case(tg, ours), case(torch, theirs)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    upstream = np.arange(1.0, 1.0 + out.numel()).reshape(out.shape)
    out.backward(tg.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_writes():
    w = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for write in (lambda: w[0].mul_(2.0), lambda: w.t().zero_(), lambda: w.reshape(4)[1:].add_(1.0)):
        with pytest.raises(RuntimeError, match="view of a leaf"):
            write()
    np.testing.assert_array_equal(w.detach().numpy(), [[1.0, 2.0], [3.0, 4.0]])
    with tg.no_grad():
        w[0].fill_(0.0)  # initialising part of a parameter
    np.testing.assert_array_equal(w.detach().numpy(), [[0.0, 0.0], [3.0, 4.0]])
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0.0, 0.0], [6.0, 8.0]])


def test_views_share_their_base_version_counter():
    x = _x()
    y = x * 2
    product = y * y  # saves y
    y[0].add_(1.0)
    with pytest.raises(RuntimeError, match="Mul.*modified by an in-place"):
        product.sum().backward()
    y = x * 2
    row = y[1]
    squared = row * row  # saves the view
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="Mul.*modified by an in-place"):
        squared.sum().backward()
    y = x * 2
    row = y[1]
    squared = row * row
    with tg.no_grad():
        y.t()[0].zero_()  # a view of the base, written outside the graph
    with pytest.raises(RuntimeError, match="Mul.*modified by an in-place"):
        squared.sum().backward()


def test_a_view_of_a_buffer_that_needs_no_gradient_joins_the_graph_once_written():
    x = _x()
    buf = tg.zeros(2, 3, dtype=tg.float64)
    row = buf[1]
    assert not row.requires_grad
    buf[0].copy_(x[1] * 2)  # the base now depends on x; its other view follows it
    total = (buf * buf).sum() + row.sum()
    assert row.requires_grad
    total.backward()
    expected = np.zeros((2, 3))
    expected[1] = 8 * x.detach().numpy()[1]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_a_view_given_new_storage_through_data_is_a_view_no_more():
    x = _x()
    y = x * 1
    row = y[0]
    row.data = tg.zeros(3, dtype=tg.float64)
    row.add_(x[1])  # writes the new storage only: y's values and gradient do not see it
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
    (y.sum() + row.sum()).backward()  # row keeps its history (y[0]), as .data = keeps it in PyTorch
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])


def test_an_expanded_view_refuses_in_place_writes_and_changes_nothing():
    x = _x()
    y = x * 1
    with pytest.raises(RuntimeError, match="mul_: .*single memory location.*clone"):
        y[0].expand(2, 3).mul_(2.0)
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_a_view_whose_base_changed_is_remade_as_a_backward_root():
    x = _x()
    y = x * 1
    row = y[0]
    y.mul_(x)  # row now holds x[0] ** 2
    row.backward(tg.ones(3, dtype=tg.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2 * x.detach().numpy()[0], [0.0, 0.0, 0.0]], rtol=1e-12)
