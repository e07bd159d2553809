"""The op table: one row per differentiable op, driving tests/test_ops.py.

A row names the op, calls ours (``fn``), computes the same thing in NumPy (``ref``), and draws inputs
(``cases``: a hypothesis strategy of Case). A Case holds positional Args and keyword arguments:
  Arg(value)                 a float array, given to fn as a Tensor that requires grad (checked);
  Arg(value, kind="const")   a float array, given to fn as a plain ndarray (a constant operand);
  Arg(value, kind="index")   an integer/bool array, given to fn as an int/bool Tensor (never differentiated).
Values are drawn in float64; the tests cast them to the dtype under test and may re-lay them out
(transposed, strided, reversed) so that ops see non-contiguous arrays.

Domains keep finite differences valid: log/sqrt/pow bases positive, denominators away from 0, abs/relu/
clamp inputs away from their kinks, maximum/minimum/max/min operands apart (no ties).

Flags: ``broadcast`` (binary op whose cases draw broadcastable shapes), ``second_order`` (the backward is
itself differentiable, checked by gradgradcheck), ``fd`` (gradient equals the finite difference; False
for embedding's padding row, which gets no gradient by definition: ``grad_ref`` gives the expected one).
Adding an op is one row here.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy.special as sp
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import ops


@dataclass
class Arg:
    value: np.ndarray
    kind: str = "x"  # "x" | "const" | "index"


@dataclass
class Case:
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Op:
    name: str
    fn: Callable
    ref: Optional[Callable]
    cases: st.SearchStrategy
    broadcast: bool = False
    second_order: bool = True
    fd: bool = True
    grad_ref: Optional[Callable] = None  # (case, grad_outputs) -> expected grads of the "x" args
    tol32: tuple = (1e-4, 1e-5)  # (rtol, atol) against the float64 reference, float32 inputs

    def __repr__(self):
        return self.name


# ------------------------------------------------------------------------------------ value domains

def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    """|x| in [0.3, 2]: denominators, and abs/relu/l1 inputs away from the kink at 0."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def away_from_clamp_edges(rng, shape):
    """Values in [-1.5, 1.5] at least 0.05 from the clamp bounds ±0.5."""
    x = rng.uniform(-1.5, 1.5, shape)
    near = np.abs(np.abs(x) - 0.5) < 0.05
    return np.where(near, np.sign(x) * 0.7, x)


def grid(rng, shape, offset=0.0):
    """Values k/5 + offset + noise(±0.02): two grids offset by 0.1 never come within 0.06 (no ties)."""
    return rng.integers(-5, 6, shape) * 0.2 + offset + rng.uniform(-0.02, 0.02, shape)


def distinct(rng, shape):
    """All values at least 0.06 apart (max/min reductions without ties)."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)).reshape(shape)


# ------------------------------------------------------------------------------------ strategies

SIDE = 3


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def rngs():
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


@st.composite
def unary(draw, domain=normal, min_side=0, min_dims=0, **kwargs):
    shape = draw(shapes(min_dims=min_dims, min_side=min_side))
    return Case((Arg(domain(draw(rngs()), shape)),), {k: draw(v) for k, v in kwargs.items()})


@st.composite
def broadcast_pair(draw, dom_a=normal, dom_b=normal, n=2):
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=0, max_side=SIDE))
    rng = draw(rngs())
    return Case(tuple(Arg(dom(rng, s)) for dom, s in zip((dom_a, dom_b), bs.input_shapes)))


@st.composite
def same_shape_pair(draw, dom_a=normal, dom_b=normal, min_side=0, **kwargs):
    shape = draw(shapes(min_side=min_side))
    rng = draw(rngs())
    kwargs = {k: draw(v) for k, v in kwargs.items()}
    assume(kwargs.get("reduction") != "mean" or np.prod(shape) > 0)  # the mean of nothing is NaN
    return Case((Arg(dom_a(rng, shape)), Arg(dom_b(rng, shape))), kwargs)


@st.composite
def with_constant(draw, const_first, dom_x=normal, dom_c=normal):
    """A tensor and an ndarray constant of broadcastable shapes (the constant drives the dunder)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, min_side=1, max_side=SIDE))
    rng = draw(rngs())
    x, c = Arg(dom_x(rng, bs.input_shapes[0])), Arg(dom_c(rng, bs.input_shapes[1]), "const")
    return Case((c, x) if const_first else (x, c))


@st.composite
def where_cases(draw):
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=SIDE))
    rng = draw(rngs())
    cond, sa, sb = bs.input_shapes
    return Case((Arg(rng.random(cond) < 0.5, "index"), Arg(normal(rng, sa)), Arg(normal(rng, sb))))


def _dim_choice(ndim, allow_none=True, allow_tuple=True):
    """None, an int in [-ndim, ndim) (0/-1 for a 0-d tensor), or a tuple of distinct dims."""
    n = max(ndim, 1)
    options = [st.integers(-n, n - 1)]
    if allow_none:
        options.append(st.none())
    if allow_tuple and ndim:
        options.append(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple))
    return st.one_of(*options)


def axes(dim, ndim):
    """Our dim argument as a NumPy axis tuple (normalising negatives; () for 0-d tensors; dim=()
    means every dim, as in PyTorch 2)."""
    if ndim == 0:
        return ()
    if dim is None or dim == ():
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else dim
    return tuple(d % ndim for d in dims)


@st.composite
def reduce_cases(draw, domain=normal, min_side=0, allow_none=True, allow_tuple=True, correction=False):
    shape = draw(shapes(min_side=min_side))
    dim = draw(_dim_choice(len(shape), allow_none, allow_tuple))
    kwargs = dict(dim=dim, keepdim=draw(st.booleans()))
    if correction:
        kwargs["correction"] = draw(st.sampled_from([0, 1]))
        count = int(np.prod([shape[a] for a in axes(dim, len(shape))]))
        assume(count > kwargs["correction"])
    return Case((Arg(domain(draw(rngs()), shape)),), kwargs)


@st.composite
def dim_cases(draw, domain=normal, min_dims=0, min_side=0):
    """One input and one int dim (softmax, log_softmax, max(dim))."""
    shape = draw(shapes(min_dims=min_dims, min_side=min_side))
    return Case((Arg(domain(draw(rngs()), shape)),),
                dict(dim=draw(_dim_choice(len(shape), allow_none=False, allow_tuple=False))))


# ------------------------------------------------------------------------------------ matmul

MATMUL_LAYOUTS = {
    "1d@1d": lambda b, n, k, m: ((k,), (k,)),
    "1d@2d": lambda b, n, k, m: ((k,), (k, m)),
    "2d@1d": lambda b, n, k, m: ((n, k), (k,)),
    "2d@2d": lambda b, n, k, m: ((n, k), (k, m)),
    "batched": lambda b, n, k, m: ((b, n, k), (b, k, m)),
    "3d@2d": lambda b, n, k, m: ((b, n, k), (k, m)),
    "2d@3d": lambda b, n, k, m: ((n, k), (b, k, m)),
    "3d@1d": lambda b, n, k, m: ((b, n, k), (k,)),
    "1d@3d": lambda b, n, k, m: ((k,), (b, k, m)),
    "broadcast batch": lambda b, n, k, m: ((b, 1, n, k), (2, k, m)),
}


@st.composite
def matmul_cases(draw):
    layout = draw(st.sampled_from(sorted(MATMUL_LAYOUTS)))
    b, n, k, m = (draw(st.integers(0 if i else 1, SIDE)) for i in range(4))
    sa, sb = MATMUL_LAYOUTS[layout](b, n, k, m)
    rng = draw(rngs())
    return Case((Arg(normal(rng, sa)), Arg(normal(rng, sb))), dict(layout=layout))


# ------------------------------------------------------------------------------------ shape ops

@st.composite
def reshape_cases(draw):
    shape = draw(shapes(min_side=1))
    n = int(np.prod(shape))
    factors = [f for f in range(1, n + 1) if n % f == 0]
    new, rest = [], n
    for _ in range(draw(st.integers(0, 3))):
        f = draw(st.sampled_from([f for f in factors if rest % f == 0]))
        new.append(f)
        rest //= f
    new.append(rest)
    if draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return Case((Arg(normal(draw(rngs()), shape)),), dict(shape=tuple(new)))


@st.composite
def transpose_cases(draw):
    shape = draw(shapes(min_dims=1))
    d = len(shape)
    return Case((Arg(normal(draw(rngs()), shape)),), dict(dim0=draw(st.integers(-d, d - 1)),
                                                          dim1=draw(st.integers(-d, d - 1))))


@st.composite
def permute_cases(draw):
    shape = draw(shapes())
    dims = draw(st.permutations(range(len(shape))))
    dims = tuple(d - len(shape) if draw(st.booleans()) else d for d in dims)  # some negative
    return Case((Arg(normal(draw(rngs()), shape)),), dict(dims=dims))


@st.composite
def expand_cases(draw):
    shape = draw(shapes(min_side=1))
    lead = draw(st.lists(st.integers(0, SIDE), max_size=2))
    target = list(lead)
    for s in shape:
        target.append(draw(st.sampled_from([-1, 1, 0, 2, 3])) if s == 1 else draw(st.sampled_from([s, -1])))
    full = tuple(shape[i - len(lead)] if t == -1 else t for i, t in enumerate(target))
    return Case((Arg(normal(draw(rngs()), shape)),), dict(shape=tuple(target), full=full))


@st.composite
def squeeze_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    return Case((Arg(normal(draw(rngs()), shape)),),
                dict(dim=draw(_dim_choice(len(shape), allow_none=True, allow_tuple=False))))


@st.composite
def unsqueeze_cases(draw):
    shape = draw(shapes())
    return Case((Arg(normal(draw(rngs()), shape)),), dict(dim=draw(st.integers(-len(shape) - 1, len(shape)))))


@st.composite
def flatten_cases(draw):
    shape = draw(shapes(min_dims=1, max_dims=4))
    d = len(shape)
    s = draw(st.integers(-d, d - 1))
    e = draw(st.integers(s % d, d - 1))
    return Case((Arg(normal(draw(rngs()), shape)),), dict(start_dim=s, end_dim=e - d if draw(st.booleans()) else e))


def _slice(draw, n):
    """A random slice of a length-n axis, including negative steps and out-of-range bounds."""
    step = draw(st.sampled_from([None, 1, 2, -1, -2, 3]))
    start = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    stop = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    return slice(start, stop, step)


@st.composite
def getitem_cases(draw):
    """A key mixing slices (negative steps too), ints, None, Ellipsis, int arrays with repeats, bool masks."""
    shape = draw(shapes(min_dims=1, max_side=4))
    rng = draw(rngs())
    kind = draw(st.sampled_from(["basic", "int array", "bool mask", "two int arrays", "array and slice",
                                 "ellipsis int", "empty int array"]))
    if kind == "basic":
        key = []
        for n in shape[:draw(st.integers(1, len(shape)))]:
            if n and draw(st.booleans()):
                key.append(draw(st.integers(-n, n - 1)))
            else:
                key.append(_slice(draw, n))
            if draw(st.integers(0, 4)) == 0:
                key.append(None)
        key = tuple(key)
    elif kind == "int array":
        assume(shape[0] > 0)
        key = rng.integers(-shape[0], shape[0], draw(st.integers(1, 5)))  # repeats likely
    elif kind == "empty int array":
        key = np.zeros(0, dtype=np.int64)
    elif kind == "bool mask":
        lead = draw(st.integers(1, len(shape)))
        key = rng.random(shape[:lead]) < 0.5
    elif kind == "two int arrays":
        assume(len(shape) >= 2 and shape[0] > 0 and shape[1] > 0)
        k = draw(st.integers(1, 4))
        key = (rng.integers(0, shape[0], k), rng.integers(-shape[1], shape[1], k))
    elif kind == "array and slice":
        assume(len(shape) >= 2 and shape[1] > 0)
        key = (_slice(draw, shape[0]), rng.integers(0, shape[1], draw(st.integers(1, 4))))
    else:  # "ellipsis int"
        assume(shape[-1] > 0)
        key = (Ellipsis, draw(st.integers(-shape[-1], shape[-1] - 1)), None)
    return Case((Arg(normal(rng, shape)),), dict(key=key))


@st.composite
def cat_cases(draw, same_shape=False):
    shape = list(draw(shapes(min_dims=0 if same_shape else 1)))
    n = draw(st.integers(1, 3))
    rng = draw(rngs())
    if same_shape:
        dim = draw(st.integers(-len(shape) - 1, len(shape)))
        return Case(tuple(Arg(normal(rng, shape)) for _ in range(n)), dict(dim=dim))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    args = []
    for _ in range(n):
        shape[dim] = draw(st.integers(0, SIDE))
        args.append(Arg(normal(rng, tuple(shape))))
    return Case(tuple(args), dict(dim=dim))


@st.composite
def split_cases(draw):
    shape = draw(shapes(min_dims=1, max_side=5))
    d = len(shape)
    dim = draw(st.integers(-d, d - 1))
    n = shape[dim]
    if draw(st.booleans()):
        arg = draw(st.integers(1, max(n, 1) + 1))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        arg = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return Case((Arg(normal(draw(rngs()), shape)),), dict(split=arg, dim=dim))


@st.composite
def chunk_cases(draw):
    shape = draw(shapes(min_dims=1, max_side=5))
    d = len(shape)
    return Case((Arg(normal(draw(rngs()), shape)),), dict(chunks=draw(st.integers(1, 4)), dim=draw(st.integers(-d, d - 1))))


def np_split(x, split, dim):
    n = x.shape[dim]
    sizes = ([min(split, n - i) for i in range(0, n, split)] or [0]) if isinstance(split, int) else split
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=dim))


def np_chunk(x, chunks, dim):
    n = x.shape[dim]
    return np_split(x, [0] * chunks, dim) if n == 0 else np_split(x, -(-n // chunks), dim)


# ------------------------------------------------------------------------------------ losses

@st.composite
def class_cases(draw, smoothing=True):
    """Logits (C,), (N, C) or (N, C, d...) with targets, ignore_index, reduction, label_smoothing."""
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["C", "NC", "NCd", "NCdd"]))
    n = draw(st.integers(0 if layout == "NC" else 1, 3))
    extra = {"C": (), "NC": (), "NCd": (draw(st.integers(1, 3)),),
             "NCdd": (draw(st.integers(1, 2)), draw(st.integers(1, 2)))}[layout]
    shape = (c,) if layout == "C" else (n, c) + extra
    tshape = () if layout == "C" else (n,) + extra
    rng = draw(rngs())
    ignore_index = draw(st.sampled_from([-100, 0, 2]))
    target = rng.integers(0, c, tshape)
    target = np.where(rng.random(tshape) < 0.3, ignore_index, target).astype(np.int64)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if reduction == "mean" and target.size:  # at least one counted row, else the mean is 0/0
        flat = target.reshape(-1)
        if np.all(flat == ignore_index):
            flat[0] = (ignore_index + 1) % c if ignore_index in range(c) else 0
            assume(flat[0] != ignore_index)
    assume(not (reduction == "mean" and target.size == 0))
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    if smoothing:
        kwargs["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.35]))
    return Case((Arg(normal(rng, shape) * 2), Arg(target, "index")), kwargs)


def _class_last(x, t):
    """(N*, C) logits and (N*,) targets in PyTorch's class-dim-1 layout."""
    if x.ndim == 1:
        return x[None], np.asarray(t).reshape(1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]), t.reshape(-1)


def _reduce(losses, keep, reduction, tshape):
    if reduction == "none":
        return losses.reshape(tshape)
    return losses.sum() if reduction == "sum" else losses.sum() / keep.sum()


def np_cross_entropy(x, t, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    z, tt = _class_last(x, t)
    keep = tt != ignore_index
    lse = sp.logsumexp(z, axis=1)
    zt = np.take_along_axis(z, np.where(keep, tt, 0)[:, None], axis=1)[:, 0]
    losses = np.where(keep, lse - (1 - label_smoothing) * zt - label_smoothing * z.mean(axis=1), 0.0)
    return _reduce(losses, keep, reduction, np.shape(t))


def np_nll_loss(x, t, ignore_index=-100, reduction="mean"):
    z, tt = _class_last(x, t)
    keep = tt != ignore_index
    picked = np.take_along_axis(z, np.where(keep, tt, 0)[:, None], axis=1)[:, 0]
    return _reduce(np.where(keep, -picked, 0.0), keep, reduction, np.shape(t))


def np_loss(elementwise):
    def ref(a, b, reduction="mean"):
        v = elementwise(a, b)
        return v if reduction == "none" else (v.sum() if reduction == "sum" else v.mean())
    return ref


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def embedding_cases(draw, padding=False):
    v, d = draw(st.integers(1, 4)), draw(st.integers(0, 3))
    rng = draw(rngs())
    idx = rng.integers(0, v, draw(shapes(max_dims=2, max_side=4)))  # repeats likely
    kwargs = {}
    if padding:
        pad = draw(st.integers(-v, v - 1))
        kwargs["padding_idx"] = pad
        idx = np.where(rng.random(idx.shape) < 0.4, pad % v, idx)
    return Case((Arg(idx.astype(np.int64), "index"), Arg(normal(rng, (v, d)))), kwargs)


def embedding_padding_grad(case, grad_outputs):
    """Expected dW: scatter-add of the output gradient into the indexed rows, none into the padding row."""
    idx, w = case.args[0].value, case.args[1].value
    (g,) = grad_outputs
    pad = case.kwargs["padding_idx"] % w.shape[0]
    dw = np.zeros(w.shape)
    np.add.at(dw, idx.reshape(-1), g.reshape(idx.size, w.shape[1]))
    dw[pad] = 0
    return [dw]


DROPOUT_SEED = 1234


def seeded_dropout(x, p, training=True):
    """Dropout with the generator re-seeded first, so the mask is a fixed function of the shape."""
    tg.manual_seed(DROPOUT_SEED)
    return ops.dropout(x, p=p, training=training)


def np_logsumexp(x, dim, keepdim):
    a = axes(dim, x.ndim)
    if not a:
        return x.copy()
    if x.size == 0:  # log of an empty sum (scipy cannot take these)
        return np.full(np.sum(x, axis=a, keepdims=keepdim).shape, -np.inf)
    return sp.logsumexp(x, axis=a, keepdims=keepdim)


def np_softmax(x, dim):
    return sp.softmax(x, axis=dim) if x.size and x.ndim else np.ones_like(x)


def np_log_softmax(x, dim):
    return sp.log_softmax(x, axis=dim) if x.size and x.ndim else np.zeros_like(x)


def np_max_dim(x, dim, keepdim, largest=True):
    if x.ndim == 0:
        return x, np.asarray(0, dtype=np.int64)
    pick, arg = (np.max, np.argmax) if largest else (np.min, np.argmin)
    return pick(x, axis=dim, keepdims=keepdim), arg(x, axis=dim, keepdims=keepdim).astype(np.int64)


def np_flatten(x, start_dim, end_dim):
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def np_squeeze(x, dim):
    if dim is None:
        return np.squeeze(x)
    a = axes(dim, x.ndim)
    return np.squeeze(x, axis=a) if x.ndim and x.shape[a[0]] == 1 else x


def np_expand(x, shape, full):
    return np.broadcast_to(x, full)


def np_clamp(lo, hi):
    return lambda x: np.clip(x, lo, hi)


def np_where(c, a, b):
    return np.where(c, a, b)


# ------------------------------------------------------------------------------------ the table

POW_EXPONENTS = st.sampled_from([2, 3, 0.5, -1.5, 0, 1, 2.5])
KEEPDIM = st.booleans()

# ------------------------------------------------------------------------------------ selection, linear

@st.composite
def gather_cases(draw):
    shape = draw(shapes(min_dims=1, min_side=1))
    d = draw(st.integers(0, len(shape) - 1))
    rng = draw(rngs())
    # PyTorch's gather takes an index no larger than the input in the other dims, not only equal
    idx_shape = tuple(draw(st.integers(1, SIDE)) if i == d else draw(st.integers(1, s)) for i, s in enumerate(shape))
    return Case((Arg(normal(rng, shape)), Arg(rng.integers(0, shape[d], idx_shape), kind="index")), dict(dim=d))


@st.composite
def select_cases(draw):
    """One input, a dim, and a start/length (narrow) or indices (index_select) along it."""
    shape = draw(shapes(min_dims=1, min_side=1))
    d = draw(st.integers(0, len(shape) - 1))
    start = draw(st.integers(0, shape[d] - 1))
    rng = draw(rngs())
    return Case((Arg(normal(rng, shape)),), dict(dim=d, start=start, length=draw(st.integers(0, shape[d] - start)),
                                                   index=rng.integers(0, shape[d], draw(st.integers(0, SIDE)))))


@st.composite
def repeat_cases(draw):
    shape = draw(shapes(max_dims=2))
    sizes = tuple(draw(st.integers(0, 2)) for _ in range(len(shape) + draw(st.integers(0 if shape else 1, 1))))
    return Case((Arg(normal(draw(rngs()), shape)),), dict(sizes=sizes))


@st.composite
def linear_cases(draw):
    lead = draw(shapes(max_dims=2))
    n_in, n_out = draw(st.integers(0, SIDE)), draw(st.integers(0, SIDE))
    rng = draw(rngs())
    return Case((Arg(normal(rng, lead + (n_in,))), Arg(normal(rng, (n_out, n_in))), Arg(normal(rng, (n_out,)))))


@st.composite
def index_put_cases(draw):
    shape = draw(shapes(min_dims=1, min_side=1))
    i = draw(st.integers(0, shape[0] - 1))
    rng = draw(rngs())
    return Case((Arg(normal(rng, shape)), Arg(normal(rng, shape[1:]))), dict(i=i))


def np_index_put(x, v, i):
    out = x.copy()
    out[i] = v
    return out


def np_gather(x, idx, dim):
    """out[p] = x[p with its dim coordinate replaced by idx[p]], for every position p of idx."""
    grid = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    return x[tuple(grid)]


def np_topk(x, k):
    return -np.sort(-x, axis=-1, kind="stable")[..., :k]


OPS = [
    # arithmetic (binary ops broadcast)
    Op("add", lambda a, b: a + b, np.add, broadcast_pair(), broadcast=True),
    Op("sub", lambda a, b: a - b, np.subtract, broadcast_pair(), broadcast=True),
    Op("mul", lambda a, b: a * b, np.multiply, broadcast_pair(), broadcast=True),
    Op("div", lambda a, b: a / b, np.divide, broadcast_pair(normal, away_from_zero), broadcast=True),
    Op("neg", lambda x: -x, np.negative, unary()),
    Op("pow_scalar", lambda x, p: x ** p, lambda x, p: np.power(x, p), unary(positive, p=POW_EXPONENTS)),
    Op("pow_int_any_sign", lambda x, p: x ** p, lambda x, p: np.power(x, p),
       unary(normal, p=st.sampled_from([2, 3]))),
    Op("pow_tensor", lambda a, b: a ** b, np.power,
       broadcast_pair(positive, lambda r, s: r.uniform(-2, 2, s)), broadcast=True),
    Op("tg.pow", lambda a, b: ops.pow(a, b), np.power, broadcast_pair(positive, normal), broadcast=True),
    # Python numbers and ndarrays on either side of the operators
    Op("scalar_radd", lambda x: 1.5 + x, lambda x: 1.5 + x, unary()),
    Op("scalar_rsub", lambda x: 1.5 - x, lambda x: 1.5 - x, unary()),
    Op("scalar_rmul", lambda x: 2.5 * x, lambda x: 2.5 * x, unary()),
    Op("scalar_rdiv", lambda x: 2.0 / x, lambda x: 2.0 / x, unary(away_from_zero)),
    Op("scalar_rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, unary()),
    Op("scalar_sub_int", lambda x: x - 3, lambda x: x - 3, unary()),
    Op("array_rmul", lambda c, x: c * x, np.multiply, with_constant(True)),
    Op("array_rsub", lambda c, x: c - x, np.subtract, with_constant(True)),
    Op("array_rdiv", lambda c, x: c / x, np.divide, with_constant(True, away_from_zero)),
    Op("array_radd", lambda c, x: c + x, np.add, with_constant(True)),
    Op("array_div", lambda x, c: x / c, np.divide, with_constant(False, normal, away_from_zero)),
    # unary math and activations
    Op("exp", tg.exp, np.exp, unary()),
    Op("log", tg.log, np.log, unary(positive)),
    Op("sqrt", tg.sqrt, np.sqrt, unary(positive)),
    Op("abs", lambda x: abs(x), np.abs, unary(away_from_zero)),
    Op("tanh", tg.tanh, np.tanh, unary()),
    Op("sigmoid", tg.sigmoid, sp.expit, unary()),
    Op("relu", tg.relu, lambda x: np.maximum(x, 0), unary(away_from_zero)),
    Op("clamp", lambda x: tg.clamp(x, -0.5, 0.5), np_clamp(-0.5, 0.5), unary(away_from_clamp_edges)),
    Op("clamp_min", lambda x: x.clamp(min=-0.5), np_clamp(-0.5, None), unary(away_from_clamp_edges)),
    Op("clamp_max", lambda x: x.clamp(max=0.5), np_clamp(None, 0.5), unary(away_from_clamp_edges)),
    Op("where", lambda c, a, b: tg.where(c, a, b), np_where, where_cases(), broadcast=True),
    Op("maximum", tg.maximum, np.maximum, broadcast_pair(grid, lambda r, s: grid(r, s, 0.1)), broadcast=True),
    Op("minimum", tg.minimum, np.minimum, broadcast_pair(grid, lambda r, s: grid(r, s, 0.1)), broadcast=True),
    # matmul: 1-D·1-D, 1-D·2-D, 2-D·1-D, 2-D, batched, broadcast batch
    Op("matmul", lambda a, b, layout: a @ b, lambda a, b, layout: np.matmul(a, b), matmul_cases()),
    Op("tg.matmul", lambda a, b, layout: tg.matmul(a, b), lambda a, b, layout: np.matmul(a, b), matmul_cases()),
    # reductions
    Op("sum", lambda x, dim, keepdim: x.sum(dim=dim, keepdim=keepdim),
       lambda x, dim, keepdim: np.sum(x, axis=axes(dim, x.ndim), keepdims=keepdim), reduce_cases()),
    Op("mean", lambda x, dim, keepdim: x.mean(dim=dim, keepdim=keepdim),
       lambda x, dim, keepdim: np.mean(x, axis=axes(dim, x.ndim), keepdims=keepdim), reduce_cases()),
    Op("var", lambda x, dim, keepdim, correction: x.var(dim=dim, keepdim=keepdim, correction=correction),
       lambda x, dim, keepdim, correction: np.var(x, axis=axes(dim, x.ndim), keepdims=keepdim, ddof=correction),
       reduce_cases(correction=True)),
    Op("logsumexp", lambda x, dim, keepdim: x.logsumexp(dim=dim, keepdim=keepdim),
       np_logsumexp,
       reduce_cases(allow_none=False)),
    Op("max_all", lambda x: x.max(), np.max, unary(distinct, min_side=1)),
    Op("min_all", lambda x: tg.min(x), np.min, unary(distinct, min_side=1)),
    Op("max_dim", lambda x, dim, keepdim: x.max(dim=dim, keepdim=keepdim),
       np_max_dim,
       reduce_cases(distinct, min_side=1, allow_none=False, allow_tuple=False)),
    Op("min_dim", lambda x, dim, keepdim: tg.min(x, dim, keepdim),
       lambda x, dim, keepdim: np_max_dim(x, dim, keepdim, largest=False),
       reduce_cases(distinct, min_side=1, allow_none=False, allow_tuple=False)),
    # shape ops
    Op("reshape", lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape), reshape_cases()),
    Op("view", lambda x, shape: x.contiguous().view(*shape), lambda x, shape: x.reshape(shape), reshape_cases()),
    Op("transpose", lambda x, dim0, dim1: x.transpose(dim0, dim1),
       lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1), transpose_cases()),
    Op("permute", lambda x, dims: x.permute(*dims), lambda x, dims: np.transpose(x, dims), permute_cases()),
    Op("T", lambda x: x.T, lambda x: x.T, unary()),
    Op("expand", lambda x, shape, full: x.expand(*shape), np_expand, expand_cases()),
    Op("squeeze", lambda x, dim: x.squeeze(dim), np_squeeze, squeeze_cases()),
    Op("unsqueeze", lambda x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim), unsqueeze_cases()),
    Op("flatten", lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim),
       np_flatten, flatten_cases()),
    Op("getitem", lambda x, key: x[key], lambda x, key: x[key], getitem_cases()),
    Op("getitem_tensor_key", lambda x, key: x[_tensor_key(key)], lambda x, key: x[key], getitem_cases()),
    Op("cat", lambda *xs, dim: tg.cat(list(xs), dim=dim), lambda *xs, dim: np.concatenate(xs, axis=dim), cat_cases()),
    Op("stack", lambda *xs, dim: tg.stack(xs, dim=dim), lambda *xs, dim: np.stack(xs, axis=dim),
       cat_cases(same_shape=True)),
    Op("unbind", lambda x, dim: x.unbind(dim), lambda x, dim: tuple(np.moveaxis(x, dim, 0)),
       dim_cases(min_dims=1, min_side=1)),
    Op("split", lambda x, split, dim: x.split(split, dim=dim), np_split, split_cases()),
    Op("chunk", lambda x, chunks, dim: x.chunk(chunks, dim=dim), np_chunk, chunk_cases()),
    # nn-ish
    Op("softmax", lambda x, dim: tg.softmax(x, dim=dim), np_softmax, dim_cases()),
    Op("log_softmax", lambda x, dim: x.log_softmax(dim), np_log_softmax, dim_cases()),
    Op("cross_entropy", ops.cross_entropy, np_cross_entropy, class_cases()),
    Op("nll_loss", ops.nll_loss, np_nll_loss, class_cases(smoothing=False)),
    Op("mse_loss", ops.mse_loss, np_loss(lambda a, b: (a - b) ** 2), same_shape_pair(reduction=REDUCTIONS)),
    Op("l1_loss", ops.l1_loss, np_loss(lambda a, b: np.abs(a - b)),
       same_shape_pair(away_from_zero, lambda r, s: r.uniform(-0.05, 0.05, s), reduction=REDUCTIONS)),
    Op("binary_cross_entropy_with_logits", ops.binary_cross_entropy_with_logits,
       np_loss(lambda x, y: -(y * sp.log_expit(x) + (1 - y) * sp.log_expit(-x))),
       same_shape_pair(lambda r, s: 3 * r.standard_normal(s), lambda r, s: r.random(s), reduction=REDUCTIONS)),
    Op("embedding", lambda idx, w: ops.embedding(idx, w), lambda idx, w: w[idx], embedding_cases()),
    Op("embedding_padding", lambda idx, w, padding_idx: ops.embedding(idx, w, padding_idx=padding_idx),
       lambda idx, w, padding_idx: w[idx], embedding_cases(padding=True), fd=False, second_order=False,
       grad_ref=embedding_padding_grad),
    Op("dropout_fixed_seed", lambda x, p: seeded_dropout(x, p), None, unary(p=st.sampled_from([0.0, 0.25, 0.5, 1.0]))),
    Op("dropout_eval", lambda x, p: seeded_dropout(x, p, training=False), lambda x, p: x,
       unary(p=st.sampled_from([0.25, 0.5]))),
    # added with PyTorch's Tensor methods
    Op("sin", tg.sin, np.sin, unary()),
    Op("erf", ops.special.erf, sp.erf, unary()),
    Op("log1p", ops.special.log1p, np.log1p, unary(positive)),
    Op("cos", lambda x: x.cos(), np.cos, unary()),
    Op("clone", lambda x: x.clone(), lambda x: x.copy(), unary()),
    Op("prod", lambda x, dim, keepdim: x.prod(dim=dim, keepdim=keepdim),
       lambda x, dim, keepdim: np.prod(x, axis=axes(dim, x.ndim), keepdims=keepdim), reduce_cases()),
    Op("cumsum", lambda x, dim: x.cumsum(dim), lambda x, dim: np.cumsum(x, axis=dim), dim_cases(min_dims=1)),
    Op("norm", lambda x, dim, keepdim: x.norm(dim=dim, keepdim=keepdim),
       lambda x, dim, keepdim: np.sqrt(np.sum(x * x, axis=axes(dim, x.ndim), keepdims=keepdim)),
       reduce_cases(away_from_zero, min_side=1)),
    Op("gather", lambda x, idx, dim: x.gather(dim, idx), np_gather,
       gather_cases()),
    Op("narrow", lambda x, dim, start, length, index: x.narrow(dim, start, length),
       lambda x, dim, start, length, index: np.take(x, np.arange(start, start + length), axis=dim), select_cases()),
    Op("index_select", lambda x, dim, start, length, index: x.index_select(dim, tg.tensor(index)),
       lambda x, dim, start, length, index: np.take(x, index, axis=dim), select_cases()),
    Op("sort_values", lambda x: x.sort(dim=-1)[0], lambda x: np.sort(x, axis=-1), unary(distinct, min_side=1, min_dims=1)),
    Op("topk_values", lambda x: x.topk(1, dim=-1)[0], lambda x: np_topk(x, 1), unary(distinct, min_side=1, min_dims=1)),
    Op("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: np.tile(x, sizes), repeat_cases()),
    Op("linear", lambda x, w, b: tg.nn.functional.linear(x, w, b), lambda x, w, b: x @ w.T + b, linear_cases()),
    Op("index_put", lambda x, v, i: _index_put(x, v, i), np_index_put, index_put_cases()),
]


def _index_put(x, v, i):
    """x[i] = v on a copy inside the graph, as PyTorch code writes it."""
    y = x * 1.0
    y[i] = v
    return y

def _tensor_key(key):
    """The same key with its arrays as Tensors (int64 or bool)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = tuple(tg.tensor(p) if isinstance(p, np.ndarray) else p for p in parts)
    return out if isinstance(key, tuple) else out[0]


OPS_BY_NAME = {op.name: op for op in OPS}
assert len(OPS_BY_NAME) == len(OPS), "op names must be unique"
