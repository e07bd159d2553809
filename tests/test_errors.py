"""Wrong shapes, dtypes and indices raise the documented exception, whose message names the operation
and the shapes involved, and a failed call leaves every input (and gradient) as it was."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import ops
from tinygrad_rnn.autograd import Function


def leaf(*shape):
    return tg.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)


def shape_str(shape):
    return re.escape(str(tuple(shape)))


def raises_unmutated(exc, fn, tensors, *patterns):
    """fn() raises exc with every pattern in its message, and leaves the tensors' data and grads alone."""
    before = [(t._data.copy(), None if t.grad is None else t.grad._data.copy()) for t in tensors]
    with pytest.raises(exc) as err:
        fn()
    msg = str(err.value)
    for p in patterns:
        assert re.search(p, msg), f"{p!r} not in {msg!r}"
    for t, (data, grad) in zip(tensors, before):
        np.testing.assert_array_equal(t._data, data)
        assert (t.grad is None) if grad is None else np.array_equal(t.grad._data, grad)
    return err.value


# --------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5, 2, 3), (4, 3, 2)),
                                   ((3,), (2, 4))])
def test_matmul_shape_mismatch(sa, sb):
    a, b = leaf(*sa), leaf(*sb)
    e = raises_unmutated(ValueError, lambda: a @ b, [a, b], "matmul", shape_str(sa), shape_str(sb))
    assert isinstance(e, RuntimeError)  # ShapeError is both, as in PyTorch
    raises_unmutated(ValueError, lambda: tg.matmul(a, b), [a, b], "matmul")


def test_matmul_of_0d_tensor():
    a, b = leaf(), leaf(3)
    raises_unmutated(ValueError, lambda: a @ b, [a, b], "matmul", r"\(\)", shape_str((3,)))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "pow"])
def test_broadcasting_mismatch(op):
    a, b = leaf(2, 3), leaf(3, 2)
    fn = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b,
          "maximum": lambda: tg.maximum(a, b), "pow": lambda: a ** b}[op]
    raises_unmutated(ValueError, fn, [a, b], op, shape_str((2, 3)), shape_str((3, 2)))


def test_broadcasting_mismatch_with_ndarray():
    a = leaf(2, 3)
    raises_unmutated(ValueError, lambda: np.ones((4,)) + a, [a], "add", shape_str((4,)), shape_str((2, 3)))


def test_where_mismatch_and_condition_dtype():
    a, b = leaf(2, 3), leaf(2, 3)
    raises_unmutated(ValueError, lambda: tg.where(np.ones((4,), bool), a, b), [a, b], "where", shape_str((4,)))
    raises_unmutated(TypeError, lambda: tg.where(np.ones((2, 3)), a, b), [a, b], "where", "bool")


def test_cat_mismatch():
    a, b = leaf(2, 3), leaf(3, 2)
    raises_unmutated(ValueError, lambda: tg.cat([a, b], dim=0), [a, b], "cat", shape_str((2, 3)), shape_str((3, 2)))
    c = leaf(2, 3, 1)
    raises_unmutated(ValueError, lambda: tg.cat([a, c], dim=1), [a, c], "cat", shape_str((2, 3, 1)))
    raises_unmutated(ValueError, lambda: tg.cat([]), [], "cat")


def test_stack_mismatch():
    a, b = leaf(2, 3), leaf(2, 4)
    raises_unmutated(ValueError, lambda: tg.stack([a, b]), [a, b], "stack", shape_str((2, 3)), shape_str((2, 4)))


def test_reshape_and_expand_mismatch():
    a = leaf(2, 3)
    raises_unmutated(ValueError, lambda: a.reshape(4, 2), [a], "reshape", shape_str((2, 3)), shape_str((4, 2)))
    raises_unmutated(ValueError, lambda: a.view(5, -1), [a], "reshape", shape_str((2, 3)))
    raises_unmutated(ValueError, lambda: a.expand(2, 4), [a], "expand", shape_str((2, 3)), shape_str((2, 4)))
    raises_unmutated(ValueError, lambda: a.expand(3), [a], "expand", shape_str((2, 3)))


def test_bad_dims():
    a = leaf(2, 3)
    raises_unmutated(IndexError, lambda: a.sum(dim=2), [a], "sum", "2")
    raises_unmutated(IndexError, lambda: a.transpose(0, 5), [a], "transpose")
    raises_unmutated(IndexError, lambda: a.unsqueeze(4), [a], "unsqueeze")
    raises_unmutated(IndexError, lambda: tg.softmax(a, dim=-3), [a], "softmax")
    raises_unmutated(ValueError, lambda: a.permute(0, 0), [a], "permute", shape_str((2, 3)))
    raises_unmutated(ValueError, lambda: a.sum(dim=(0, -2)), [a], "sum")
    raises_unmutated(TypeError, lambda: a.sum(dim=0.5), [a], "sum")
    raises_unmutated(ValueError, lambda: a.split([2, 2], dim=1), [a], "split", "3")
    raises_unmutated(ValueError, lambda: a.chunk(0), [a], "chunk")


def test_clamp_needs_a_bound():
    a = leaf(3)
    raises_unmutated(ValueError, lambda: a.clamp(), [a], "clamp")


# --------------------------------------------------------------------------------------- indexing

@pytest.mark.parametrize("key", [1.0, np.float64(1.0), np.float32(1.0), slice(0.5, 2), np.array([0.0, 1.0]),
                                 (0, 1.0)], ids=["float", "np.float64", "np.float32", "float slice",
                                                 "float array", "float in tuple"])
def test_float_indices_raise_type_error(key):
    a = leaf(3, 3)
    raises_unmutated(TypeError, lambda: a[key], [a])


def test_float_tensor_index():
    a = leaf(3, 3)
    raises_unmutated(TypeError, lambda: a[tg.tensor([0.0, 1.0])], [a], "index", "float32")


@pytest.mark.parametrize("key", [5, -4, (0, 3), np.array([0, 3]), np.array([-4]), (np.array([0]), np.array([7]))],
                         ids=["int", "negative int", "second dim", "array", "negative array", "two arrays"])
def test_out_of_range_indices_raise_index_error(key):
    a = leaf(3, 3)
    raises_unmutated(IndexError, lambda: a[key], [a], "index", shape_str((3, 3)))


def test_bool_mask_of_wrong_shape():
    a = leaf(3, 3)
    raises_unmutated(IndexError, lambda: a[np.ones(4, bool)], [a], "index", shape_str((3, 3)))


def test_too_many_indices():
    a = leaf(3)
    raises_unmutated(IndexError, lambda: a[0, 0], [a], "index", shape_str((3,)))


# --------------------------------------------------------------------------------------- nn ops

@pytest.mark.parametrize("idx", [[0, 4], [-1, 2], [[1, 9]]], ids=["too big", "negative", "2-D"])
def test_embedding_out_of_range(idx):
    w = leaf(4, 3)
    bad = [i for i in np.ravel(idx) if not 0 <= i < 4][0]
    raises_unmutated(IndexError, lambda: ops.embedding(tg.tensor(idx), w), [w], "embedding", str(bad), "4")


def test_embedding_bad_index_dtype_and_padding():
    w = leaf(4, 3)
    raises_unmutated(TypeError, lambda: ops.embedding(tg.tensor([0.0, 1.0]), w), [w], "embedding", "integer")
    raises_unmutated(ValueError, lambda: ops.embedding(tg.tensor([0]), w, padding_idx=4), [w], "padding_idx")


def test_cross_entropy_target_dtype():
    x = leaf(2, 3)
    raises_unmutated(TypeError, lambda: ops.cross_entropy(x, tg.tensor([0.0, 1.0])), [x], "cross_entropy",
                     "float32")
    raises_unmutated(TypeError, lambda: ops.nll_loss(x, np.array([0.0, 1.0])), [x], "nll_loss")


@pytest.mark.parametrize("xs,ts", [((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 3, 4), (2, 3)), ((3,), (1,)),
                                   ((2, 3), ())])
def test_cross_entropy_target_shape(xs, ts):
    x = leaf(*xs)
    t = tg.tensor(np.zeros(ts, np.int64))
    raises_unmutated(ValueError, lambda: ops.cross_entropy(x, t), [x], "cross_entropy", shape_str(xs), shape_str(ts))


@pytest.mark.parametrize("target", [[0, 3], [-1, 0], [0, 5]])
def test_cross_entropy_target_out_of_range(target):
    x = leaf(2, 3)
    bad = [t for t in target if not 0 <= t < 3][0]
    raises_unmutated(IndexError, lambda: ops.cross_entropy(x, tg.tensor(target)), [x], "cross_entropy",
                     str(bad), "3")
    raises_unmutated(IndexError, lambda: ops.nll_loss(x, tg.tensor(target)), [x], "nll_loss")


def test_cross_entropy_bad_arguments():
    x, t = leaf(2, 3), tg.tensor([0, 1])
    raises_unmutated(ValueError, lambda: ops.cross_entropy(x, t, reduction="avg"), [x], "reduction", "avg")
    raises_unmutated(ValueError, lambda: ops.cross_entropy(x, t, label_smoothing=1.5), [x], "label_smoothing")
    raises_unmutated(TypeError, lambda: ops.cross_entropy(tg.tensor([[1, 2]]), tg.tensor([0])), [], "floating")


def test_loss_shape_mismatch():
    a, b = leaf(2, 3), leaf(3, 2)
    for fn, name in ((ops.mse_loss, "mse_loss"), (ops.l1_loss, "l1_loss"),
                     (ops.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits")):
        raises_unmutated(ValueError, lambda: fn(a, b), [a, b], name, shape_str((2, 3)), shape_str((3, 2)))


def test_dropout_bad_p():
    x = leaf(3)
    raises_unmutated(ValueError, lambda: ops.dropout(x, p=-0.1), [x], "dropout", "-0.1")


# --------------------------------------------------------------------------------------- backward

def test_backward_on_non_scalar():
    x = leaf(2, 3)
    y = x * 2
    raises_unmutated(RuntimeError, y.backward, [x], "backward", shape_str((2, 3)))
    raises_unmutated(ValueError, lambda: y.backward(tg.ones(3, 2, dtype=np.float64)), [x], "backward",
                     shape_str((3, 2)), shape_str((2, 3)))
    y.backward(tg.ones(2, 3, dtype=np.float64))  # the graph survived the failed calls
    assert x.grad.shape == (2, 3)


def test_failing_backward_leaves_grads_untouched():
    """A backward that fails half-way through the graph does not half-update the leaves' .grad."""
    class Boom(Function):
        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, g):
            raise FloatingPointError("boom")

    x, w = leaf(3), leaf(3)
    (x * w).sum().backward()
    loss = (x * w).sum() + Boom.apply(w * 2).sum()
    raises_unmutated(FloatingPointError, loss.backward, [x, w], "boom")


def test_grad_outputs_count_mismatch():
    x = leaf(2)
    raises_unmutated(ValueError, lambda: tg.autograd.grad([x * 2, x * 3], [x], [tg.ones(2)]), [x], "grad")
