"""Trace one step of a cell and turn the graph the engine recorded into a plan for code generation.

The step runs once on placeholder Tensors (x (2, I) and each state (2, H_k), all 0.5, requiring grad);
the engine records its graph as usual. Walking it back from the new states (``tensor._ctx``,
``ctx.fn``, ``ctx.inputs``), every node is one of:
  * parameter-only (depends on no placeholder, e.g. ``W.transpose(0, 1)``): left to the engine, its
    Tensor becomes an input of the compiled sequence (a "frontier" tensor: a matrix or a vector);
  * a product ``v @ W`` (or ``v Wᵀ``: nn.Linear's, a matmul flagged to transpose W) of a step value
    with a frontier matrix: hoisted out of the time loop as one
    (T·B, I) product when v is the input itself, otherwise one BLAS call per step;
  * the element-wise rest, over (B, w) rows: generated numba loops.
Feature widths and offsets become symbols (one per distinct value; 1 and 0 stay literal), so one
generated kernel serves every size with the same pattern. Control flow in the cell sees the
placeholder values, never the data: a data-dependent branch (``if h.sum() > 0``) is traced once, as
in any tracing JIT. A mask computed in the step (``where(h > 0, a, b)`` or ``(h > 0) * a``, with
``&``, ``|``, ``~``) compiles: while tracing, the comparison and logical ops record what they read (the
engine does not differentiate masks, so its graph alone would show a constant). The first time a
cell shows a graph of a new structure its step is traced once more on other values (check_frontier),
so that a value the step computed outside the graph (``h.detach()``, a random draw) is refused rather than frozen. Ops
outside the set raise TypeError pointing to impl="unrolled".
"""
from dataclasses import dataclass, field

import numpy as np

from .. import blas_threads
from ..autograd import enable_grad
from ..ops import elementwise as E, linalg, reduce, shape as S
from ..tensor import Tensor

TRACE_BATCH = 2
UNROLLED = 'use nn.Recurrent(..., impl="unrolled") for cells outside the compiled op set'

BINARY = {E.Add: "add", E.Sub: "sub", E.Mul: "mul", E.Div: "div", E.Maximum: "maximum", E.Minimum: "minimum"}
MASKS = {"greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le", "equal": "eq",
         "not_equal": "ne", "logical_and": "and", "logical_or": "or", "logical_not": "not"}
UNARY = {E.Neg: "neg", E.Exp: "exp", E.Log: "log", E.Sqrt: "sqrt", E.Abs: "abs", E.Tanh: "tanh",
         E.Sigmoid: "sigmoid", E.Relu: "relu"}


@dataclass(frozen=True)
class Ref:
    """Columns [off, off + width) of a buffer: ("x",), ("s", k), ("v", n), ("mm", k), ("hx", k) are
    (B, w) rows; ("p", k) a frontier vector; ("c", k) a constant. flat: a (B,) value (sum without keepdim)."""
    buf: tuple
    off: str
    width: str
    flat: bool = False


@dataclass
class Node:
    op: str
    out: tuple
    width: str
    args: list
    attrs: dict = field(default_factory=dict)


@dataclass
class Plan:
    nodes: list
    outputs: list            # Ref of each new state
    sizes: dict              # symbol -> value
    consts: list             # Python numbers, indexed by ("c", k); 0, 1, 0.5 first
    frontier: list           # Tensors handed to the compiled sequence (parameters and what derives from them)
    mats: list               # (frontier index, read transposed) of each matrix ("mm"/"hx" products' right operand)
    vecs: list               # (frontier index, is_condition) of each vector ("p", k)
    hoisted: list            # matrix index of each hoisted product ("hx", k)
    steps: list              # matrix index of each per-step product ("mm", k)
    state_sizes: tuple
    input_size: int
    placeholder_widths: dict  # ("x",) and ("s", k) -> width symbol

    def value(self, symbol):
        """The number a width or offset symbol stands for ("0" and "1" stand for themselves)."""
        return int(self.sizes.get(symbol, symbol))

    def structure(self):
        """A hashable summary of everything the generated source depends on (not the sizes' values)."""
        freeze = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        nodes = tuple((n.op, n.out, n.width, tuple(n.args), tuple((k, freeze(v)) for k, v in sorted(n.attrs.items())))
                      for n in self.nodes)
        return (nodes, tuple(self.outputs), len(self.sizes), len(self.vecs), tuple(self.hoisted), tuple(self.steps),
                len(self.state_sizes))


def unsupported(what):
    return TypeError(f"Recurrent(impl=\"fused\"): {what}; {UNROLLED}")


class _Builder:
    def __init__(self, placeholders, input_size, state_sizes, masks):
        self.refs = {}                      # (id(ctx), index) or id(leaf) -> Ref
        self.frontier, self.frontier_ids = [], {}
        self.mats, self.vecs, self.hoisted, self.steps = [], [], [], []
        self.nodes, self.sizes, self.mm_widths = [], {}, {}
        self.consts = [0.0, 1.0, 0.5]
        for k, t in enumerate(placeholders):
            self.refs[id(t)] = Ref(("x",) if k == 0 else ("s", k - 1), "0", self.sym(t.shape[1]))
        self.input_size, self.state_sizes = input_size, state_sizes
        self.placeholder_widths = {r.buf: r.width for r in self.refs.values()}
        self.masks = masks                  # id(data) -> a comparison recorded while tracing (E.recording_masks)

    def sym(self, value):
        """A new symbol for a width. Symbols never depend on the sizes' values, so one generated
        kernel serves every size; "1" (a reduced or scalar width, read at column 0) is the exception."""
        name = f"S{len(self.sizes)}"
        self.sizes[name] = int(value)
        return name

    def offset(self, value):
        """A column offset: "0" when it is 0 (the first piece of a split), else a new symbol."""
        return "0" if value == 0 else self.sym(value)

    def width_like(self, value, refs):
        """The width symbol of the first operand as wide as the result (results share their operands'
        symbols, so that runs of element-wise nodes can share a loop whatever the sizes)."""
        for r in refs:
            if r.width != "1" and self.value(r.width) == value:
                return r.width
        return "1" if value == 1 else self.sym(value)

    def value(self, symbol):
        """The number a width or offset symbol stands for."""
        return int(self.sizes.get(symbol, symbol))

    def const(self, value):
        self.consts.append(float(value))
        return Ref(("c", len(self.consts) - 1), "0", "1")

    def _frontier(self, t):
        key = id(t)
        if key not in self.frontier_ids:
            self.frontier_ids[key] = len(self.frontier)
            self.frontier.append(t)
        return self.frontier_ids[key]

    def vector(self, t, is_condition=False):
        """A frontier tensor used element-wise: shape (), (w,), (1,) or (1, w)."""
        arr_shape = t.shape
        if len(arr_shape) == 2 and arr_shape[0] == TRACE_BATCH:
            raise unsupported(f"a (batch, {arr_shape[1]}) tensor that the graph does not compute from the step's "
                              "input and states (a detached value, a random mask such as dropout's, a tensor "
                              "made from data) is used with step values")
        if len(arr_shape) > 2 or (len(arr_shape) == 2 and arr_shape[0] != 1):
            raise unsupported(f"a tensor of shape {arr_shape} that does not depend on the step is used "
                              "element-wise with step values; only (w,), (1, w) or scalars broadcast over "
                              "the batch")
        self.vecs.append((self._frontier(t), is_condition))
        return Ref(("p", len(self.vecs) - 1), "0", self.sym(arr_shape[-1]) if arr_shape else "1")

    def operand(self, a, allow_constant=True):
        """The Ref of a node input: a step value, a mask the step computed, a frontier vector or a constant."""
        if isinstance(a, Tensor):
            ref = self.refs.get(self._key(a))
            if ref is None and id(a._data) in self.masks:
                ref = _mask(self, a._data, a.dtype)
            return ref if ref is not None else self.vector(a)
        if allow_constant and isinstance(a, (int, float, np.number)) and not isinstance(a, bool):
            return self.const(a)
        raise unsupported(f"an operand of type {type(a).__name__}")

    @staticmethod
    def _key(t):
        return (id(t._ctx), t._index) if t._ctx is not None else id(t)

    def node(self, op, width, args, **attrs):
        if self.value(width) > 1:  # a width-1 operand of a wider result is broadcast: read at column 0
            args = [Ref(r.buf, r.off, "1", r.flat) if self.value(r.width) == 1 else r for r in args]
        n = len(self.nodes)
        self.nodes.append(Node(op, ("v", n), width, args, attrs))
        return Ref(("v", n), "0", width)

    def full_buffer(self, ref):
        """ref as a whole contiguous (B, w) buffer (a copy when it is a view or not a row buffer)."""
        if ref.buf[0] in ("x", "s", "v", "mm", "hx") and ref.off == "0" and ref.width == self._width(ref.buf):
            return ref
        return self.node("copy", ref.width, [ref])

    def _width(self, buf):
        if buf[0] in ("x", "s"):
            return self.placeholder_widths[buf]
        if buf[0] == "v":
            return self.nodes[buf[1]].width
        return self.mm_widths[buf]


def _mask_operands(data, masks):
    """The Tensors a recorded mask was computed from, through nested logical ops."""
    entry = masks.get(id(data))
    if entry is None:
        return []
    return [u for t in entry[1] for u in ([t] if id(t._data) not in masks else _mask_operands(t._data, masks))]


def _inputs(ctx, masks):
    """ctx's Tensor inputs, and for a mask among them (where's condition, or a mask used as a number,
    as in ``(h > 0) * a``), the Tensors it was computed from."""
    tensors = [a for a in ctx.inputs if isinstance(a, Tensor)]
    conditions = [ctx.inputs[0]] if ctx.fn is E.Where and not isinstance(ctx.inputs[0], Tensor) else []
    extra = [u for d in [t._data for t in tensors] + conditions for u in _mask_operands(d, masks)]
    return tensors + [u for u in extra if isinstance(u, Tensor)]


def _step_dependent(outputs, placeholder_ids, masks):
    """(node, one Tensor it made) for the nodes reachable from the outputs that depend on a
    placeholder, in topological order (nodes are reached only through tensors they made)."""
    order, state, depends = [], {}, {}
    made = {id(t._ctx): t for t in outputs if t._ctx is not None}
    stack = [(t._ctx, False) for t in outputs if t._ctx is not None]
    while stack:
        ctx, done = stack.pop()
        if done:
            if id(ctx) not in depends:
                depends[id(ctx)] = any(id(a) in placeholder_ids or (a._ctx is not None and depends[id(a._ctx)])
                                       for a in _inputs(ctx, masks))
                order.append(ctx)
            continue
        if id(ctx) in state:
            continue
        state[id(ctx)] = True
        stack.append((ctx, True))
        for a in _inputs(ctx, masks):
            if a._ctx is not None:
                made.setdefault(id(a._ctx), a)
                if id(a._ctx) not in state:
                    stack.append((a._ctx, False))
    return [(c, made[id(c)]) for c in order if depends[id(c)]]


def trace(step, input_size, state_sizes, dtype, fill=0.5):
    """Run step(x, states) on placeholders (every element ``fill``, or fill(shape)) and build the Plan of its graph."""
    shape = lambda w: (TRACE_BATCH, w)  # noqa: E731
    values = [np.full(shape(w), fill) if np.isscalar(fill) else fill(shape(w)) for w in (input_size, *state_sizes)]
    placeholders = [Tensor._make(v.astype(dtype), True) for v in values]
    with enable_grad(), np.errstate(all="ignore"), E.recording_masks() as masks, blas_threads.tracing():
        new_states = step(placeholders[0], tuple(placeholders[1:]))
    b = _Builder(placeholders, input_size, state_sizes, masks)
    for ctx, made in _step_dependent(new_states, {id(p) for p in placeholders}, masks):
        _translate(b, ctx, made)
    outputs = []
    for t, w in zip(new_states, state_sizes):
        ref = b.refs.get(b._key(t)) if t._ctx is not None or id(t) in b.refs else None
        if ref is None:
            ref = b.node("copy", b.sym(w), [b.vector(t)])
        elif ref.flat:
            raise unsupported("a new state of shape (batch,); reduce with keepdim=True")
        elif ref.buf[0] not in ("v", "mm", "hx"):
            ref = b.node("copy", b.sym(w), [ref])  # a new state must own its buffer (no swaps in place)
        outputs.append(ref)
    rename = _equal_widths(b.nodes)
    return Plan([_renamed(n, rename) for n in b.nodes], [_renamed(r, rename) for r in outputs], b.sizes, b.consts,
                b.frontier, b.mats, b.vecs, b.hoisted, b.steps, tuple(state_sizes), input_size,
                {buf: rename.get(w, w) for buf, w in b.placeholder_widths.items()})


def _equal_widths(nodes):
    """{symbol: the one it equals}: an element-wise node's operands that are not broadcast (width "1")
    are as wide as it for every size the step runs at (the engine's broadcasting demands it), so
    their width symbols are one (a GRU's state H and its gates' chunk H; the loops over them merge)."""
    parent = {}

    def find(s):
        while parent.get(s, s) != s:
            s = parent[s]
        return s
    for nd in nodes:
        if nd.op in ("matmul", "cat", "sum") or nd.width == "1":
            continue
        for r in nd.args:
            if r.width != "1":
                a, c = sorted((find(r.width), find(nd.width)), key=lambda s: int(s[1:]))
                parent[c] = a
    return {s: find(s) for s in parent if find(s) != s}


def _renamed(item, rename):
    """A Node or Ref with its width symbols replaced (offsets are never renamed)."""
    if isinstance(item, Ref):
        return Ref(item.buf, item.off, rename.get(item.width, item.width), item.flat)
    attrs = {k: _renamed(v, rename) if isinstance(v, Ref) else v for k, v in item.attrs.items()}
    return Node(item.op, item.out, rename.get(item.width, item.width), [_renamed(r, rename) for r in item.args], attrs)


def check_frontier(step, plan, dtype):
    """Trace the step again on other placeholder values: a frontier tensor whose value changes was
    computed from the step out of the graph's sight (detach(), .numpy(), a random draw such as
    dropout), and the kernels would hold it fixed over the whole sequence, so the step is refused.
    The values (an uneven ramp from about -0.55 to 7) differ from the first trace's 0.5 in sign, size
    and from column to column, but a value can still coincide (a statistic clamped on both). When the
    second trace takes another branch (a value-dependent ``if``) or raises (a cell validating its
    input), there is nothing to compare: the step is traced once, as the module docstring says."""
    ramp = lambda shape: np.linspace(-3.0, 7.0, int(np.prod(shape))).reshape(shape) ** 3 / 49.0  # noqa: E731
    try:
        other = trace(step, plan.input_size, plan.state_sizes, dtype, fill=ramp)
    except Exception:  # a failing second trace only means there is nothing to compare
        return
    if other.structure() != plan.structure():
        return
    for first, second in zip(plan.frontier, other.frontier):
        if first.shape != second.shape or not np.array_equal(first.detach().numpy(), second.detach().numpy(), equal_nan=True):
            raise unsupported(f"a value of shape {first.shape} that changes with the step's values reaches it "
                              "outside the graph (a step value through detach() or .numpy(), or a random draw "
                              "such as dropout's), and a compiled sequence would hold it fixed over all steps")


def _row(b, a, what):
    """A step value used as a (B, w) row: refuse (B,) values and frontier tensors where a step value is needed."""
    ref = b.operand(a)
    if ref.flat:
        raise unsupported(f"{what} of a (batch,) value; reduce with keepdim=True")
    return ref


def _matmul(b, a, w, out_value, transposed=False):
    """step @ W (step Wᵀ when transposed): hoisted before the loop when it depends only on the input,
    else one BLAS call per step. A transposed W stays the frontier tensor itself, so that no
    transpose node is made per call and a library step's cached plan finds W among its reads."""
    if not isinstance(a, Tensor) or b.refs.get(b._key(a)) is None:
        raise unsupported("a matmul whose left operand does not depend on the step (write step @ W)")
    if not isinstance(w, Tensor):
        raise unsupported(f"a matmul with a right operand of type {type(w).__name__} (make it a Tensor, "
                          "e.g. an nn.Parameter)")
    if b.refs.get(b._key(w)) is not None:
        raise unsupported("a matmul of two step values (only step @ parameter is compiled)")
    if w.ndim != 2:
        raise unsupported(f"a matmul with a right operand of shape {w.shape} (expected a matrix)")
    aref = b.full_buffer(_row(b, a, "matmul"))
    b.mats.append((b._frontier(w), transposed))
    m = len(b.mats) - 1
    if aref.buf == ("x",):
        b.hoisted.append(m)
        buf = ("hx", len(b.hoisted) - 1)
    else:
        b.steps.append(m)
        buf = ("mm", len(b.steps) - 1)
    width = b.sym(out_value)
    b.mm_widths[buf] = width
    b.nodes.append(Node("matmul", buf, width, [aref], {"mat": m}))
    return Ref(buf, "0", width)


def _mask(b, data, dtype):
    """The Ref of a mask the step computed (a node of 1.0/0.0 values), or None when it does not
    depend on the step (then it is a fixed mask, handed to the kernels as a frontier vector)."""
    entry = b.masks.get(id(data))
    if entry is None:
        return None
    name, operands, _ = entry
    refs = [_mask(b, t._data, dtype) if id(t._data) in b.masks else b.refs.get(b._key(t)) for t in operands]
    if all(r is None for r in refs):
        return None
    if data.ndim != 2 or data.shape[0] != TRACE_BATCH or any(r is not None and r.flat for r in refs):
        raise unsupported(f"a mask of shape {data.shape} from the step; compare (batch, features) values "
                          "(reduce with keepdim=True)")
    args = [r if r is not None else b.vector(Tensor._make(t._data.astype(dtype)), is_condition=True)
            for r, t in zip(refs, operands)]
    return b.node(MASKS[name], b.width_like(data.shape[1], args), args)


def _translate(b, ctx, made):
    """Add the node ctx (which made the Tensor `made`) to the plan, or refuse it."""
    fn, inputs = ctx.fn, ctx.inputs
    shape, name = made.shape, fn.__name__
    if len(shape) not in (1, 2) or shape[0] != TRACE_BATCH:
        raise unsupported(f"{name} makes a value of shape {shape}, not (batch, features)")
    out_value = shape[-1] if len(shape) == 2 else 1
    key = (id(ctx), 0)
    if fn in BINARY or fn in UNARY or fn is E.PowScalar or fn is E.Clamp:
        n_args = 2 if fn in BINARY else 1
        args = [_row(b, a, name) for a in inputs[:n_args]]
        if len(shape) != 2:
            raise unsupported(f"{name} of (batch,) values; reduce with keepdim=True")
        attrs = {}
        if fn is E.PowScalar:
            attrs["p"] = float(inputs[1])
            args.append(b.const(inputs[1]))
            args.append(b.const(float(inputs[1]) - 1.0))
        if fn is E.Clamp:
            attrs["lo"] = None if inputs[1] is None else b.const(inputs[1])
            attrs["hi"] = None if inputs[2] is None else b.const(inputs[2])
        op = BINARY.get(fn) or UNARY.get(fn) or ("pow" if fn is E.PowScalar else "clamp")
        b.refs[key] = b.node(op, b.width_like(out_value, args[:n_args]), args, **attrs)
    elif fn is E.Where:
        cref = _mask(b, inputs[0], made.dtype)
        if cref is None:
            cond = Tensor._make(np.asarray(inputs[0]).astype(made.dtype))
            if cond.ndim == 2 and cond.shape[0] != 1 or cond.ndim > 2:
                raise unsupported(f"where with a {cond.shape} condition the step did not compute with comparisons "
                                  "(a batch of masks fixed at trace time); compute it in the step, or pass a "
                                  "fixed (features,) mask")
            cref = b.vector(cond, is_condition=True)
        args = [cref, _row(b, inputs[1], name), _row(b, inputs[2], name)]
        b.refs[key] = b.node("where", b.width_like(out_value, args[1:] + args[:1]), args)
    elif fn is linalg.MatMul:
        if len(inputs) > 2 and inputs[2]:
            raise unsupported("a matmul with a transposed left operand")
        b.refs[key] = _matmul(b, inputs[0], inputs[1], out_value, len(inputs) > 3 and bool(inputs[3]))
    elif fn is linalg.Linear:  # x Wᵀ + bias: the product with the transposed weight, then the bias
        x, w, bias = inputs
        ref = _matmul(b, x, w, out_value, transposed=True)
        b.refs[key] = ref if bias is None else b.node("add", b.width_like(out_value, [ref]), [ref, b.operand(bias)])
    elif fn is S.Split:
        src = _row(b, inputs[0], "split")
        if inputs[1] != 1:
            raise unsupported("split/chunk along the batch dim (only the feature dim is compiled)")
        offset = b.value(src.off)
        starts, widths = [0, *inputs[2]], {}
        for i, (start, end) in enumerate(zip(starts, [*inputs[2], b.value(src.width)])):
            widths.setdefault(end - start, b.sym(end - start))  # equal pieces (chunk) share a symbol
            b.refs[(id(ctx), i)] = Ref(src.buf, b.offset(offset + start), widths[end - start])
    elif fn is S.GetItem:
        src = _row(b, inputs[0], "indexing")
        key_ = inputs[1] if isinstance(inputs[1], tuple) else (inputs[1],)
        full = b.value(src.width)
        if (len(key_) != 2 or not (key_[0] == slice(None) or key_[0] is Ellipsis) or not isinstance(key_[1], slice)
                or key_[1].indices(full)[2] != 1):
            raise unsupported(f"indexing with {inputs[1]!r} (only x[:, a:b] slices of the feature dim compile)")
        start = key_[1].indices(full)[0]
        b.refs[key] = Ref(src.buf, b.offset(b.value(src.off) + start), b.sym(out_value))
    elif fn is S.Cat or fn is S.Stack:
        if inputs[0] != 1 or fn is S.Stack and len(shape) != 2:
            raise unsupported(f"{name.lower()} along the batch dim (only the feature dim is compiled)")
        if fn is S.Cat:
            parts = [_row(b, a, "cat") for a in inputs[1:]]
        else:  # (batch,) values side by side: each a (batch, 1) column
            parts = [b.operand(a) for a in inputs[1:]]
            if not all(p.flat for p in parts):
                raise unsupported("stack of (batch, features) values (only (batch,) values stack, into (batch, n))")
            parts = [Ref(p.buf, p.off, "1") for p in parts]
        b.refs[key] = b.node("cat", b.sym(out_value), parts, offsets=[b.offset(v) for v in np.cumsum(
            [0] + [b.value(p.width) for p in parts[:-1]])])
    elif fn is reduce.Sum:
        src = _row(b, inputs[0], "sum")
        if tuple(inputs[1]) != (1,):
            raise unsupported(f"sum over dims {inputs[1]} (only the feature dim, dim=-1, compiles)")
        ref = b.node("sum", "1", [src])
        b.refs[key] = ref if inputs[2] else Ref(ref.buf, ref.off, ref.width, flat=True)
    elif fn is S.Reshape:
        src = b.operand(inputs[0])
        new = made.shape  # -1 resolved
        if new == (TRACE_BATCH,) and src.width == "1" or new == (TRACE_BATCH, 1) and src.flat:
            b.refs[key] = Ref(src.buf, src.off, "1", flat=len(new) == 1)
        elif len(new) == 2 and new[0] == TRACE_BATCH and new[1] == b.value(src.width) and not src.flat:
            b.refs[key] = src
        else:
            raise unsupported(f"reshape to {new} (only (batch, 1) <-> (batch,) compiles)")
    elif fn is S.Expand:
        src = _row(b, inputs[0], "expand")
        b.refs[key] = b.node("copy", b.sym(out_value), [src])
    else:
        raise unsupported(f"the op {name} is not in the compiled op set")
