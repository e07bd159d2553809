"""The cell compiler: nn.Recurrent(impl="fused") against impl="unrolled" (its oracle) for every shipped
cell, the built-in LSTM/GRU/RNN cells and cells written here, gradient checks of the compiled layer, the errors it promises, and
the on-disk cache across processes. Everything runs in float64."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.compiler import sequence
from tinygrad_rnn.nn import functional as F

from recurrent_table import SHIPPED_CELLS, BuiltinCell, as_tuple, t64

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"


class KitchenSinkCell(nn.Module):
    """Exercises the whole op set: both matmul layouts, a product of an intermediate, slices, cat,
    maximum/minimum/clamp/abs/pow/exp/log/sqrt/div/neg/relu/where, mean/var, Python constants."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(5)
        p = lambda *s: nn.Parameter(0.4 * rng.standard_normal(s))  # noqa: E731
        self.w_x, self.w_h, self.w_z, self.scale = p(I, 2 * H), p(2 * H, H), p(2 * H, H), p(H)
        self.mask = tg.tensor(np.arange(H) % 2 == 0)
        self.state_size = (H, H)

    def forward(self, x, state):
        h, c = state
        H = h.shape[1]
        a = x @ self.w_x + h @ self.w_h.transpose(0, 1)
        u, v = a[:, :H], a[:, H:]
        m = tg.maximum(u, c).clamp(-2.0, 2.0) - tg.minimum(v, 0.5 * h)
        s = (m.abs() + 1.0).log() + (c * c + 1.0).sqrt() / (1.0 + (0.1 * h).exp() ** 2) - m ** 3 * 0.1
        n = tg.where(self.mask, s.tanh(), -(s.relu()))
        z = (tg.cat([n, h], dim=1) @ self.w_z).sigmoid()
        centered = n - n.mean(dim=-1, keepdim=True)
        normed = centered / (n.var(dim=-1, keepdim=True, unbiased=False) + 1e-3).sqrt()
        c_new = z * c + (1 - z) * normed * self.scale
        return (c_new / 2.0 + h).tanh(), c_new


class SwapCell(nn.Module):
    """New states that are old states (swapped): the compiler must copy, not alias in place."""

    def __init__(self, I, H):
        super().__init__()
        self.lin = nn.Linear(I, H, dtype=np.float64)
        self.state_size = (H, H)

    def forward(self, x, state):
        h, c = state
        return c, h + self.lin(x)


class ProductsCell(nn.Module):
    """Products the compiler treats specially: of the second state (dW from the saved states), whose
    value a gradient rule reads (kept for every step), and a hoisted plus a per-step product added
    (one shared gradient buffer)."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(6)
        p = lambda *s: nn.Parameter(0.5 * rng.standard_normal(s))  # noqa: E731
        self.w_c, self.w_x, self.w_h = p(H + 1, H), p(I, H), p(H, H)
        self.state_size = (H, H + 1)

    def forward(self, x, state):
        h, c = state
        a = (c @ self.w_c + x @ self.w_x).tanh()
        m = h @ self.w_h
        h_new = a * h + m * m * 0.1
        return h_new, c * 0.9 + h_new.sum(dim=-1, keepdim=True)


class ProductStatesCell(nn.Module):
    """New states that are products themselves: a per-step product that the step also reads (its
    gradient has two contributions, the next step's and the tanh's) and a hoisted product read by
    nothing else (its one contribution is the next step's)."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(9)
        p = lambda *s: nn.Parameter(0.5 * rng.standard_normal(s))  # noqa: E731
        self.w_h, self.w_c, self.w_z = p(H, H), p(I, H), p(I, H)
        self.state_size = (H, H, H)

    def forward(self, x, state):
        h, c, z = state
        h_new = h @ self.w_h
        return h_new, h_new.tanh() + x @ self.w_c + 0.5 * c * z, x @ self.w_z


class EarlyStateCell(nn.Module):
    """A new state computed first, from x alone (its gradient can be seeded in its own loop), while
    the old one is read only after a per-step product: the old state's gradient is then written
    before the new one's is read in the backward sweep, so the seed must not wait for that loop."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(10)
        p = lambda *s: nn.Parameter(0.5 * rng.standard_normal(s))  # noqa: E731
        self.w_x, self.w_h = p(I, H), p(H, H)
        self.state_size = (H, H)

    def forward(self, x, state):
        h, c = state
        c_new = (x @ self.w_x).tanh()
        return (h @ self.w_h + 2.0 * c).sigmoid(), c_new


class ProductIsStateCell(nn.Module):
    """New states that are a per-step and a hoisted product themselves, each also used once by an add
    (p + 0.1) that only a product reads: the add's gradient may not share the product's array, which
    also receives the new state's gradient from the next step."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(14)
        p = lambda *s: nn.Parameter(0.5 * rng.standard_normal(s))  # noqa: E731
        self.w_h, self.w_x, self.u, self.v = p(H, H), p(I, H), p(H, H), p(H, H)
        self.state_size = (H, H, H)

    def forward(self, x, state):
        h, c, z = state
        p, q = h @ self.w_h, x @ self.w_x
        return p, ((p + 0.1) @ self.u).tanh() + 0.5 * c, ((q + 0.2) @ self.v).tanh() * z + q


class TwinStatesCell(nn.Module):
    """One value returned as two new states (and a slice of it as a third): each state's gradient
    from the next step reaches it, so neither may be seeded alone in its loop."""

    def __init__(self, I, H):
        super().__init__()
        self.w = nn.Parameter(0.5 * np.random.default_rng(15).standard_normal((I, H)))
        self.state_size = (H, H, 1)

    def forward(self, x, state):
        h, c, k = state
        out = (x @ self.w + h * c + c * k).tanh()
        return out, out, out[:, :1]


class UnreadInputsCell(nn.Module):
    """A step that reads neither x nor its second state: their gradients are None, as in the
    unrolled graph (and PyTorch), not zeros."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(16)
        self.w, self.u = (nn.Parameter(0.5 * rng.standard_normal((H, H))) for _ in range(2))
        self.state_size = (H, H)

    def forward(self, x, state):
        h, _ = state
        return (h @ self.w).tanh(), (h @ self.u).sigmoid()


class SlicedSavesCell(nn.Module):
    """Values whose backward reads one slice of them, which the forward keeps alone: the first chunk
    of one (offset 0), the last chunk of another, and one column broadcast over the features (logs,
    which the backward cannot evaluate again); and a value evaluated again in the backward from the
    last chunk (v3 - 0.3), which must read it where the kept slice starts."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(8)
        p = lambda *s: nn.Parameter(0.5 * rng.standard_normal(s))  # noqa: E731
        self.w_x, self.w_h, self.w_k = p(I, 3 * H), p(H, 3 * H), p(I, 2)
        self.state_size = H

    def forward(self, x, h):
        u1, u2, u3 = ((x @ self.w_x) ** 2 + 0.5).log().chunk(3, dim=-1)
        v1, v2, v3 = (h @ self.w_h - 0.1).chunk(3, dim=-1)
        k = ((x @ self.w_k) ** 2 + 1.0).log()
        return (u1 * h + v3 * h + (v3 - 0.3) * h.tanh() + u2 - v1 - v2 + u3.tanh() + k[:, 1:2] * h).tanh()


class MaskCell(nn.Module):
    """Masks computed in the step: comparisons of an intermediate, the state, a parameter and
    constants, combined with &, | and ~, choosing values with (nested) where."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(7)
        self.w = nn.Parameter(0.5 * rng.standard_normal((I, H)))
        self.threshold = nn.Parameter(0.1 * rng.standard_normal(H))  # read only by a mask: no gradient
        self.state_size = H

    def forward(self, x, h):
        u = x @ self.w
        keep = ((u > self.threshold) & ~(h <= -0.3)) | (h == u)
        return tg.where(keep, (u + h).tanh(), tg.where(h > 0.2, 0.5 * h, h - 0.1 * u))


class MaskNumbersCell(nn.Module):
    """Masks used as numbers, (h > 0) * a: the comparison's bool values cast to the step's dtype."""

    def __init__(self, I, H):
        super().__init__()
        self.w = nn.Parameter(0.5 * np.random.default_rng(10).standard_normal((I, H)))
        self.state_size = H

    def forward(self, x, h):
        a = x @ self.w
        return (h > 0) * a - (a < 0.1) * h + ((h > -0.2) & ~(a > 0.3)) * (a + h).tanh() + 0.5 * h


class ReshapeCell(nn.Module):
    """Reshapes written with -1 between (batch,) and (batch, 1), and to the shape a value has."""

    def __init__(self, I, H):
        super().__init__()
        self.w = nn.Parameter(0.5 * np.random.default_rng(11).standard_normal((I, H)))
        self.state_size = H

    def forward(self, x, h):
        total = h.sum(-1).reshape(-1, 1)
        return (x @ self.w - 0.1 * total * h).reshape(-1, h.shape[1]).tanh() + 0.5 * h


class StackCell(nn.Module):
    """(batch,) sums stacked side by side into a (batch, 2) value (dim=-1), then a per-step product."""

    def __init__(self, I, H):
        super().__init__()
        self.w = nn.Parameter(0.5 * np.random.default_rng(12).standard_normal((I, H)))
        self.v = nn.Parameter(0.5 * np.random.default_rng(13).standard_normal((2, H)))
        self.state_size = H

    def forward(self, x, h):
        a = x @ self.w
        stats = tg.stack([h.sum(-1), (a * a).sum(-1)], dim=-1)
        return (a + stats @ self.v).tanh() * 0.5 + 0.5 * h


class TransposedReadsCell(nn.Module):
    """One square weight read as W and as Wᵀ (F.linear, which the compiler reads as a product with
    W itself), hoisted and per step: W's gradient is the sum of the products' gradients, each
    transposed back where the product read Wᵀ."""

    def __init__(self, I, H):
        super().__init__()
        rng = np.random.default_rng(12)
        self.w = nn.Parameter(0.5 * rng.standard_normal((H, H)))
        self.w_x = nn.Parameter(0.5 * rng.standard_normal((H, I)))
        self.b = nn.Parameter(0.5 * rng.standard_normal(H))
        self.state_size = H

    def forward(self, x, h):
        return (F.linear(x, self.w_x, self.b) + F.linear(h, self.w) + 0.5 * h @ self.w).tanh()


CELLS = {
    **SHIPPED_CELLS,
    "kitchen_sink": KitchenSinkCell,
    "swap": SwapCell,
    "products": ProductsCell,
    "masks": MaskCell,
    "mask_numbers": MaskNumbersCell,
    "sliced_saves": SlicedSavesCell,
    "product_states": ProductStatesCell,
    "early_state": EarlyStateCell,
    "product_is_state": ProductIsStateCell,
    "twin_states": TwinStatesCell,
    "unread_inputs": UnreadInputsCell,
    "reshape": ReshapeCell,
    "stack": StackCell,
    "transposed_reads": TransposedReadsCell,
    "builtin_lstm": lambda I, H: BuiltinCell("lstm", I, H),
    "builtin_gru": lambda I, H: BuiltinCell("gru", I, H),
    "builtin_rnn": lambda I, H: BuiltinCell("rnn_tanh", I, H),
}


def force_product_form(monkeypatch, form):
    """Make the kernels run every per-step product in one form, whatever its size: the forward's
    a W in one BLAS call, as (Wᵀ aᵀ)ᵀ, or in calls of two rows; the backward's g Wᵀ as (W gᵀ)ᵀ, or in
    calls of two rows against Wᵀ."""
    monkeypatch.setattr(sequence, "TRANSPOSED_PRODUCT_BYTES", 0 if form == "transposed" else 1 << 62)
    if form == "two_rows_per_call":
        monkeypatch.setattr(sequence, "step_product_rows", lambda batch, inner, outer, dtype: 2)
    else:
        monkeypatch.setattr(sequence, "step_product_rows", lambda batch, inner, outer, dtype: max(batch, 1))


def run(cell, impl, x, states, lengths, reverse, weights):
    """Outputs, final states and the gradients of x, the initial states and every parameter."""
    for t in (x, *states, *cell.parameters()):
        t.grad = None
    state = states if isinstance(cell.state_size, tuple) else states[0]
    out, final = nn.Recurrent(cell, reverse=reverse, impl=impl)(x, state, lengths=lengths)
    results = (out, *as_tuple(final))
    loss = sum(((r * w).sum() for r, w in zip(results, weights)), t64(0.0))
    loss.backward()
    values = [r.detach().numpy().copy() for r in results]
    grads = [t.grad.numpy().copy() if t.grad is not None else None for t in (x, *states, *cell.parameters())]
    return values, grads


@st.composite
def configurations(draw):
    T, B = draw(st.integers(1, 30)), draw(st.integers(1, 5))
    I, H = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    lengths = draw(st.none() | st.lists(st.integers(1, T), min_size=B, max_size=B))
    return T, B, I, H, lengths, draw(st.booleans()), draw(st.integers(0, 2**16))


@pytest.mark.parametrize("name", list(CELLS))
@given(config=configurations())
def test_compiled_matches_unrolled(name, config):
    T, B, I, H, lengths, reverse, seed = config
    tg.manual_seed(seed)
    cell = CELLS[name](I, H)
    rng = np.random.default_rng(seed)
    sizes = cell.state_size if isinstance(cell.state_size, tuple) else (cell.state_size,)
    x = t64(rng.standard_normal((T, B, I)), True)
    states = tuple(t64(0.5 * rng.standard_normal((B, s)), True) for s in sizes)
    weights = [rng.standard_normal((T, B, sizes[0]))] + [rng.standard_normal((B, s)) for s in sizes]
    fused = run(cell, "fused", x, states, lengths, reverse, weights)
    unrolled = run(cell, "unrolled", x, states, lengths, reverse, weights)
    names = ["x"] + [f"state{k}" for k in range(len(sizes))] + [n for n, _ in cell.named_parameters()]
    for k, (a, b) in enumerate(zip(fused[0], unrolled[0])):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"result {k}")
    for what, a, b in zip(names, fused[1], unrolled[1]):
        assert (a is None) == (b is None), what
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"gradient of {what}")


@pytest.mark.parametrize("name", ["products", "product_states", "product_is_state", "transposed_reads",
                                  "kitchen_sink", "layernorm_lstm", "mgu", "builtin_gru"])
@pytest.mark.parametrize("form", ["transposed", "two_rows_per_call"])
def test_per_step_products_in_the_forward_kernels_other_forms_match_unrolled(name, form, monkeypatch):
    """Every per-step product run as (Wᵀ aᵀ)ᵀ, or in BLAS calls of two rows (three rows: calls of 2
    and 1), the forward kernel's forms for large W and for products above OpenBLAS's small-kernel
    size, forced here for small ones: results and gradients equal the unrolled graph's, with lengths
    and reverse."""
    force_product_form(monkeypatch, form)
    T, B, I, H = 6, 3, 3, 4
    tg.manual_seed(3)
    cell = CELLS[name](I, H)
    rng = np.random.default_rng(3)
    sizes = cell.state_size if isinstance(cell.state_size, tuple) else (cell.state_size,)
    x = t64(rng.standard_normal((T, B, I)), True)
    states = tuple(t64(0.5 * rng.standard_normal((B, s)), True) for s in sizes)
    weights = [rng.standard_normal((T, B, sizes[0]))] + [rng.standard_normal((B, s)) for s in sizes]
    fused = run(cell, "fused", x, states, [6, 2, 4], True, weights)
    unrolled = run(cell, "unrolled", x, states, [6, 2, 4], True, weights)
    for a, b in zip(fused[0] + fused[1], unrolled[0] + unrolled[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", list(CELLS))
def test_an_input_without_grad_gets_none_and_changes_no_other_gradient(name):
    """x needs no gradient: the compiled sequence skips the hoisted products' G Wᵀ (as PyTorch's
    autograd skips dx) and every other result and gradient stays as it was."""
    rng = np.random.default_rng(5)
    T, B, I, H = 6, 3, 2, 3
    cell = CELLS[name](I, H)
    sizes = cell.state_size if isinstance(cell.state_size, tuple) else (cell.state_size,)
    xs = rng.standard_normal((T, B, I))
    states = tuple(t64(0.5 * rng.standard_normal((B, s)), True) for s in sizes)
    weights = [rng.standard_normal((T, B, sizes[0]))] + [rng.standard_normal((B, s)) for s in sizes]
    with_x = run(cell, "fused", t64(xs, True), states, [6, 2, 5], True, weights)
    without = run(cell, "fused", t64(xs), states, [6, 2, 5], True, weights)
    unrolled = run(cell, "unrolled", t64(xs, True), states, [6, 2, 5], True, weights)
    assert (with_x[1][0] is None) == (unrolled[1][0] is None) and without[1][0] is None  # None: x is not read
    for a, b in zip(with_x[0] + with_x[1][1:], without[0] + without[1][1:]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", ["layernorm_lstm", "kitchen_sink"])
def test_compiled_layer_gradcheck(name):
    rng = np.random.default_rng(4)
    T, B, I, H = 5, 3, 2, 3
    cell = CELLS[name](I, H)
    layer = nn.Recurrent(cell, reverse=True)
    x = t64(rng.standard_normal((T, B, I)), True)
    states = tuple(t64(0.5 * rng.standard_normal((B, H)), True) for _ in range(2))

    def fn(*args):
        out, final = layer(x, states, lengths=[5, 2, 4])
        return (out, *final)

    tg.gradcheck(fn, (x, *states, *cell.parameters()), atol=1e-7, rtol=1e-5)


class SoftmaxCell(nn.Module):
    state_size = 3

    def forward(self, x, h):
        return (h + x).softmax(-1)


class FixedBatchMaskCell(nn.Module):
    """A (batch, features) mask not computed by comparisons: it would be frozen at its traced value."""
    state_size = 3

    def forward(self, x, h):
        return tg.where(tg.tensor(np.ones(h.shape, dtype=bool)), h, x)


class OutsideTheGraphCell(nn.Module):
    """Values that change with the step but reach it as constants: a statistic of a detached state, one
    computed in NumPy, a random draw. Compiled, each would be frozen at its traced value."""
    state_size = 3

    def __init__(self, how):
        super().__init__()
        self.how = how

    def forward(self, x, h):
        if self.how == "detach":
            return h + x - h.detach().mean()
        if self.how == "numpy":
            return h * tg.tensor(np.abs(h.detach().numpy()).max(axis=0)) + x
        return h + x * tg.rand(3, dtype=x.dtype)


class ArrayWeightCell(nn.Module):
    """F.linear with a NumPy array for weight: the engine takes it, the compiler refuses it."""
    state_size = 2

    def forward(self, x, h):
        return (F.linear(x, np.ones((2, 3))) + h).tanh()


@pytest.mark.parametrize("cell, op", [(SoftmaxCell(), "the op"), (FixedBatchMaskCell(), "where with a"),
                                      (ArrayWeightCell(), "operand of type ndarray"),
                                      *[(OutsideTheGraphCell(how), "outside the graph")
                                        for how in ("detach", "numpy", "random")]])
def test_unsupported_op_raises_type_error_pointing_to_unrolled(cell, op):
    x = t64(np.ones((2, 2, 3)), True)
    with pytest.raises(TypeError, match=op) as info:
        nn.Recurrent(cell)(x)
    assert 'impl="unrolled"' in str(info.value)
    assert x.grad is None
    nn.Recurrent(cell, impl="unrolled")(x)  # the oracle runs it


class ScalarOffsetCell(nn.Module):
    """h + x - c for a scalar parameter c: the plan OutsideTheGraphCell("detach") also makes."""
    state_size = 3

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(np.array(0.25))

    def forward(self, x, h):
        return h + x - self.c


class ValidatingCell(nn.Module):
    """Refuses negative input, as a cell may: the compiler's second trace (on other values) fails."""
    state_size = 3

    def forward(self, x, h):
        if float(x.detach().numpy().min()) < 0:
            raise ValueError("inputs must be non-negative")
        return (h + x).tanh()


def test_each_cell_is_checked_even_when_another_compiled_the_same_plan():
    x = t64(np.ones((2, 2, 3)))
    nn.Recurrent(ScalarOffsetCell())(x)
    with pytest.raises(TypeError, match="outside the graph"):
        nn.Recurrent(OutsideTheGraphCell("detach"))(x)


def test_a_step_whose_second_trace_fails_still_compiles():
    x = t64(np.random.default_rng(0).uniform(0, 1, (4, 2, 3)))
    out, h = nn.Recurrent(ValidatingCell())(x)
    ref, h_ref = nn.Recurrent(ValidatingCell(), impl="unrolled")(x)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["builtin_lstm", "layernorm_lstm", "products"])
def test_parameter_gradients_arrive_in_the_parameters_layout(name):
    """As PyTorch's gradient layout contract: a C-ordered parameter gets a C-ordered gradient, also
    for a product with its transpose (the optimizer's update of a strided one runs several times slower)."""
    cell = CELLS[name](3, 4)
    out, _ = nn.Recurrent(cell)(t64(np.ones((5, 2, 3))))
    out.sum().backward()
    for n, p in cell.named_parameters():
        assert p.grad.numpy().flags.c_contiguous, n


def _traced(cell, input_size=3):
    """The Plan the compiler traces from one float64 step of cell."""
    from tinygrad_rnn.compiler import trace
    from tinygrad_rnn.nn.recurrent import _state_sizes, make_step
    sizes, as_tuple = _state_sizes(cell)
    return trace(make_step(cell, sizes, as_tuple), input_size, sizes, np.float64)


def test_the_forward_keeps_no_value_the_backward_can_evaluate_again():
    """LN-LSTM: of its layer norms' (B, w) values only x - mean of the per-step product's is kept (its
    operand, that product, is not); the normalised values, the other x - mean and the new states are
    evaluated again. Kept per row: 4H + the five activations' 5H + nine row scalars (mean, var, std)."""
    from tinygrad_rnn.compiler import Layout
    H = 5
    plan = _traced(nn.LayerNormLSTMCell(3, H, dtype=np.float64))
    _, _, widths = Layout(plan).offsets(plan, [int(np.prod(plan.frontier[i].shape)) for i, _ in plan.vecs])
    assert widths["saved"] == 4 * H + 5 * H + 9


def test_widths_an_element_wise_node_equates_are_one_symbol():
    """A GRU's state (H) and its gates' chunks (3H / 3) are as wide in every element-wise node that
    combines them, so the plan gives every H-wide node one width symbol (and their loops can merge),
    while the chunks' offsets stay symbols of their own."""
    H = 5
    plan = _traced(BuiltinCell("gru", 3, H))
    widths = {nd.width for nd in plan.nodes if nd.op not in ("matmul", "cat", "sum") and plan.value(nd.width) == H}
    assert widths == {plan.placeholder_widths[("s", 0)]}
    offsets = {r.off for nd in plan.nodes for r in nd.args if r.off != "0"}
    assert {plan.value(o) for o in offsets} == {H, 2 * H} and not offsets & widths


@pytest.mark.parametrize("name", ["kitchen_sink", "masks"])
def test_operands_a_rule_compares_are_kept_not_evaluated_again(name):
    """maximum/minimum/abs/clamp/where compare their operands in the backward; read from the saved
    forward values, the backward takes the forward's branch even where evaluating again would round
    differently (fastmath reassoc)."""
    from tinygrad_rnn.compiler import Layout
    from tinygrad_rnn.compiler.codegen import _COMPARING
    plan = _traced(CELLS[name](3, 4))
    compared = {r.buf[1] for nd in plan.nodes if nd.op in _COMPARING for r in nd.args if r.buf[0] == "v"}
    layout = Layout(plan)
    assert compared & set(layout.saved) and not compared & set(layout.recomputed)


def test_product_matrices_reach_the_kernels_in_the_order_they_read():
    from tinygrad_rnn.compiler.sequence import _matrix
    w = np.random.default_rng(0).standard_normal((700, 300))  # large enough for the blocked copy
    assert np.shares_memory(_matrix(w.T, np.float64, hoisted=True), w)  # read in place, no copy
    for a in (w.T, w[:, ::2], w[:3].T):
        per_step = _matrix(a, np.float64, hoisted=False)
        assert per_step.flags.c_contiguous and np.array_equal(per_step, a)
    assert _matrix(w.T, np.float32, hoisted=False).dtype == np.float32


def test_second_derivative_names_unrolled():
    cell = nn.IndRNNCell(2, 3, dtype=np.float64)
    x = t64(np.ones((3, 2, 2)), True)
    out, _ = nn.Recurrent(cell)(x)
    with pytest.raises(RuntimeError, match='impl="unrolled"'):
        tg.autograd.grad(out.sum(), x, create_graph=True)


_CACHE_PROBE = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    import tinygrad_rnn as tg
    from tinygrad_rnn import compiler, nn
    t = time.perf_counter()
    cell = nn.IndRNNCell(3, 4, dtype=np.float64)
    x = tg.randn(5, 2, 3, dtype=np.float64, requires_grad=True)
    if sys.argv[1] == "inference first":
        with tg.no_grad():
            nn.Recurrent(cell)(x)
    out, h = nn.Recurrent(cell)(x)
    out.sum().backward()
    stats = lambda f: [sum(getattr(m, f).stats.cache_misses.values()) for m in compiler.cache._loaded.values()]
    hits = lambda f: [sum(getattr(m, f).stats.cache_hits.values()) for m in compiler.cache._loaded.values()]
    print(json.dumps({f: [sum(stats(f)), sum(hits(f))] for f in ("forward", "backward")}
                     | {"seconds": time.perf_counter() - t}))
""")


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bias, lengths", [(True, [7, 2, 5]), (False, [7, 2, 5]), (True, [5, 2, 3])])
@pytest.mark.parametrize("form", ["one_call", "transposed", "two_rows_per_call"])
def test_builtin_layers_compiled_from_their_steps_match_unrolled(mode, bias, lengths, form, monkeypatch):
    """nn.LSTM/GRU/RNN(impl="fused"), whose kernels are generated from their own steps with the
    biases folded: outputs, final states and every gradient equal the unrolled graph's, two layers,
    both directions, lengths (the longest shorter than T too: dx, from the products after the loop
    alone, is padded with zeros); with the per-step products run in each of the forward kernel's
    forms: one call, (Wᵀ aᵀ)ᵀ (for large W) and calls of a few rows (above OpenBLAS's small-kernel size)."""
    force_product_form(monkeypatch, form)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((7, 3, 4))
    results = {}
    for impl in ("fused", "unrolled"):
        tg.manual_seed(0)
        layer = getattr(nn, mode)(4, 5, 2, bias=bias, bidirectional=True, impl=impl, dtype=np.float64)
        xs = t64(x, True)
        out, state = layer(xs, lengths=lengths)
        finals = state if mode == "LSTM" else (state,)
        ((out ** 2).sum() + sum((f * 0.3).sum() for f in finals)).backward()
        results[impl] = ([t.detach().numpy() for t in (out, *finals)]
                         + [t.grad.numpy() for t in (xs, *layer.parameters())])
    for a, b in zip(results["fused"], results["unrolled"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


class ShiftedHalvesCell(nn.Module):
    """Two H-wide slices of one 2H-wide product, the second starting at `shift`: at shift = H they
    tile it (its gradient is assigned, slice by slice, in the product's own array); at other shifts
    they overlap and leave columns out, with the same structure (slices are symbols). The product is
    a step value a = h W + 0.1 (aliased to the per-step product's gradient), or the hoisted x W."""
    state_size = 4

    def __init__(self, I, shift, hoisted=False):
        super().__init__()
        rng = np.random.default_rng(11)
        self.w, self.u = (nn.Parameter(0.5 * rng.standard_normal(s)) for s in (((I, 8), (4, 4)) if hoisted
                                                                               else ((4, 8), (I, 4))))
        self.shift, self.hoisted = shift, hoisted

    def forward(self, x, h):
        a, rest = (x @ self.w, h @ self.u) if self.hoisted else (h @ self.w + 0.1, x @ self.u)
        return a[:, :4].tanh() * a[:, self.shift:self.shift + 4].sigmoid() + rest


@pytest.mark.parametrize("hoisted", [False, True])
def test_kernels_of_one_structure_tell_tiling_slices_from_overlapping_ones(hoisted):
    """Tiled slices are a matter of sizes, not of the structure: the kernel compiled for the tiling
    halves (assigning the product's gradient) must not serve the overlapping ones, whose shared
    columns get two contributions and whose uncovered columns none."""
    from tinygrad_rnn.compiler import Layout
    rng = np.random.default_rng(12)
    x = t64(rng.standard_normal((6, 3, 2)), True)
    h0 = t64(0.5 * rng.standard_normal((3, 4)), True)
    weights = [rng.standard_normal((6, 3, 4)), rng.standard_normal((3, 4))]
    for shift in (4, 3, 1, 0, 4):
        cell = ShiftedHalvesCell(2, shift, hoisted)
        fused, unrolled = (run(cell, impl, x, (h0,), [6, 2, 5], False, weights) for impl in ("fused", "unrolled"))
        for a, b in zip(fused[0] + fused[1], unrolled[0] + unrolled[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"shift {shift}")
        if hoisted:  # the hoisted product's gradient is assigned exactly when its slices tile it
            assert (("hx", 0) in Layout(_traced(cell, 2)).assigned) == (shift == 4)


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled under NUMBA_DISABLE_JIT=1")
@pytest.mark.parametrize("first, aside", [("training", "forward"), ("inference first", "backward")])
def test_second_process_reuses_the_disk_cache(tmp_path, first, aside):
    """The first process compiles one kernel and loads the other, which its helper compiled: the
    forward when a training step comes first (this process compiles the longer backward meanwhile),
    else the backward. The second process loads both and compiles nothing."""
    env = dict(os.environ, TINYGRAD_RNN_CACHE_DIR=str(tmp_path), PYTHONPATH=os.getcwd())
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CACHE_PROBE, first], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    here = ({"forward", "backward"} - {aside}).pop()
    assert runs[0][here] == [1, 0] and runs[0][aside] == [0, 1]  # [compiled, loaded from the disk cache]
    assert runs[1]["forward"] == runs[1]["backward"] == [0, 1]
    assert len(list(tmp_path.glob("cell_*.py"))) == 1


class OffsetIndRNNCell(nn.Module):
    """Cells no other test compiles (one per `squares`), so their kernels are new to the cache folder
    a test points at."""
    state_size = 3

    def __init__(self, squares):
        super().__init__()
        self.w = nn.Parameter(np.random.default_rng(9).standard_normal((2, 3)))
        self.squares = squares

    def forward(self, x, h):
        a = x @ self.w + 0.25 * h
        for _ in range(self.squares):
            a = a - 0.125 * a * a
        return a.tanh()


_POPEN = subprocess.Popen  # the test below replaces the one the cache calls
_STUCK = []


def _stuck_helper(*args, **kwargs):
    _STUCK.append(_POPEN([sys.executable, "-c", "import time; time.sleep(60)"]))
    return _STUCK[-1]


def _no_helper(*args, **kwargs):
    raise OSError("no processes here")


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled under NUMBA_DISABLE_JIT=1")
def test_a_compile_failing_here_leaves_no_helper_and_the_next_call_works(tmp_path, monkeypatch):
    """The backward's compile in this process fails (as an interrupted one would): the error comes
    out of the first call, its helper does not outlive it, and the next call compiles on demand."""
    from tinygrad_rnn.compiler import cache

    monkeypatch.setenv("TINYGRAD_RNN_CACHE_DIR", str(tmp_path))
    real = cache._compile

    def failing(*args):
        raise RuntimeError("compile failed")
    monkeypatch.setattr(cache, "_compile", failing)
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((4, 2, 2)), True)
    cell = OffsetIndRNNCell(3)
    before = set(cache._aside)  # an earlier test's forward-only call may leave a helper compiling for later
    with pytest.raises(RuntimeError, match="compile failed"):
        nn.Recurrent(cell)(x)
    assert set(cache._aside) <= before
    monkeypatch.setattr(cache, "_compile", real)
    results = []
    for impl in ("fused", "unrolled"):
        out, h = nn.Recurrent(cell, impl=impl)(x)
        (out.sum() + (h * h).sum()).backward()
        results.append([out.detach().numpy(), cell.w.grad.numpy().copy(), x.grad.numpy().copy()])
        x.grad = cell.w.grad = None
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled under NUMBA_DISABLE_JIT=1")
@pytest.mark.parametrize("squares, helper", [(1, _no_helper), (2, _stuck_helper)])
def test_without_a_working_helper_the_kernels_compile_here(tmp_path, monkeypatch, squares, helper):
    """No helper process (Popen fails), or one that never finishes (killed after HELPER_TIMEOUT)."""
    from tinygrad_rnn.compiler import cache

    monkeypatch.setenv("TINYGRAD_RNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache.subprocess, "Popen", helper)
    monkeypatch.setattr(cache, "HELPER_TIMEOUT", 1)
    rng = np.random.default_rng(0)
    x, h0 = t64(rng.standard_normal((4, 2, 2)), True), t64(rng.standard_normal((2, 3)), True)
    before = set(cache._aside)  # as in the test above
    results = []
    for impl in ("fused", "unrolled"):
        cell = OffsetIndRNNCell(squares)
        out, h = nn.Recurrent(cell, impl=impl)(x, h0)
        (out.sum() + (h * h).sum()).backward()
        results.append([out.detach().numpy(), h.detach().numpy(), cell.w.grad.numpy()])
        x.grad = h0.grad = None
    assert list(tmp_path.glob("cell_*.py")) and set(cache._aside) <= before
    assert all(p.poll() is not None for p in _STUCK)  # a helper past its time was killed
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
