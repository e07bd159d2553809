"""Matrix product with NumPy/PyTorch matmul semantics: 1-D, 2-D, batched and broadcast batches."""
import numpy as np

from ..autograd import Function
from ..tensor import ShapeError
from .elementwise import to_tensor


class MatMul(Function):
    """C = op(A) op(B) over the last two dims, op transposing the operands flagged (backward passes
    use the flags instead of transpose nodes); dA = dC op(B)ᵀ and dB = op(A)ᵀ dC, transposed back
    where flagged (batch dims are un-broadcast by the engine)."""

    @staticmethod
    def forward(ctx, a, b, trans_a=False, trans_b=False):
        ctx.save_for_backward(a, b)
        ctx.trans = trans_a, trans_b
        return np.matmul(np.swapaxes(a, -1, -2) if trans_a else a, np.swapaxes(b, -1, -2) if trans_b else b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        ta, tb = ctx.trans
        ga = gb = None
        if need_a:
            ga = MatMul.apply(b, g, tb, True) if ta else MatMul.apply(g, b, False, not tb)
        if need_b and tb:
            gb = MatMul.apply(g, a, True, ta)
        elif need_b and b.ndim == 2 and a.ndim > 2 and not ta:
            rows = int(np.prod(a.shape[:-1]))  # not -1: ambiguous for zero-size a
            gb = MatMul.apply(a.reshape(rows, a.shape[-1]), g.reshape(rows, g.shape[-1]), True, False)
        elif need_b:
            gb = MatMul.apply(a, g, not ta, False)
        return (ga, gb) + (None,) * (len(ctx.needs_input_grad) - 2)


def matmul(a, b):
    a, b = to_tensor(a), to_tensor(b)
    if a._data.ndim == 2 == b._data.ndim and a._data.shape[1] == b._data.shape[0]:
        return MatMul.apply(a, b)  # the common case, checked
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dim, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dims of {a.shape} and {b.shape} cannot be broadcast together") from None
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(-1)).squeeze(-1)
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x Wᵀ + b over the last dim, one node; dx = g W, dW = gᵀ x and db = Σ g over the rows."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        out = np.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        rows = int(np.prod(g.shape[:-1]))  # not -1: ambiguous for zero-size inputs
        flat = g.reshape(rows, g.shape[-1]) if g.ndim != 2 else g
        gw = MatMul.apply(flat, x.reshape(rows, x.shape[-1]) if x.ndim != 2 else x, True) if need_w else None
        return (g @ w if need_x else None), gw, (flat.sum(dim=0) if need_b else None)


def linear(x, weight, bias=None):
    return Linear.apply(x, weight, bias)


def _dims_are(name, *pairs):
    for what, t, ndim in pairs:
        if t.ndim != ndim:
            raise ShapeError(f"{name}: {what} must be {ndim}-D, got shape {t.shape}")


def outer(a, b):
    """a_i b_j for 1-D a and b."""
    a, b = to_tensor(a), to_tensor(b)
    _dims_are("outer", ("input", a, 1), ("vec2", b, 1))
    return a.unsqueeze(1) * b.unsqueeze(0)


def dot(a, b):
    """Σ a_i b_i for 1-D a and b of one size."""
    a, b = to_tensor(a), to_tensor(b)
    _dims_are("dot", ("input", a, 1), ("tensor", b, 1))
    return matmul(a, b)


def mv(m, v):
    """A matrix times a vector."""
    m, v = to_tensor(m), to_tensor(v)
    _dims_are("mv", ("input", m, 2), ("vec", v, 1))
    return matmul(m, v)


def _scaled_sum(x, product, beta, alpha):
    """beta x + alpha product, where beta = 0 ignores x (even its NaNs), as PyTorch's addmm family."""
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        shape = np.broadcast_shapes(to_tensor(x).shape, product.shape)
        return product if shape == product.shape else product.expand(*shape).clone()
    return (x if beta == 1 else to_tensor(x) * beta) + product


def addmm(input, mat1, mat2, beta=1, alpha=1):
    """beta input + alpha mat1 @ mat2 (mat1, mat2 2-D)."""
    _dims_are("addmm", ("mat1", to_tensor(mat1), 2), ("mat2", to_tensor(mat2), 2))
    return _scaled_sum(input, matmul(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, beta=1, alpha=1):
    """beta input + alpha mat @ vec."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def baddbmm(input, batch1, batch2, beta=1, alpha=1):
    """beta input + alpha batch1 @ batch2, batch by batch (both 3-D)."""
    _dims_are("baddbmm", ("batch1", to_tensor(batch1), 3), ("batch2", to_tensor(batch2), 3))
    return _scaled_sum(input, matmul(batch1, batch2), beta, alpha)
