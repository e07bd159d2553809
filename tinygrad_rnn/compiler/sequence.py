"""The compiled sequence: a once-differentiable Function running the generated kernels.

Inputs: x (T, B, I), the initial states and the plan's frontier tensors (parameters and what the
engine derived from them, e.g. the GRU's folded biases; a product reading Wᵀ gets W itself, handed
to the kernels as W.T). Rows are put in step order first (with reverse, row b's step s is
position lengths[b]-1-s, an involution, so the same gather maps back), padded positions are zeroed,
and the hoisted input products are one (T·B, I) product per row part each (see CompiledSequence).
After the BPTT kernel, each product's weight gradient is one product over all steps and dx (when x
needs one) adds the hoisted products' G Wᵀ.
"""
import itertools

import numpy as np

from ..autograd import Function, once_differentiable
from ..blas_threads import joined, row_parts, run_parts, total
from ..kernels.matrices import dot, step_product_rows, transpose_into
from ..kernels.workspace import give, take
from .cache import wait_aside

SECOND_ORDER = ("second derivatives through a compiled (impl=\"fused\") recurrent sequence (nn.RNN, LSTM, "
                "GRU or Recurrent) are not supported; build the layer with impl=\"unrolled\" to differentiate "
                "twice (create_graph=True)")


def step_order(T, B, lengths, reverse):
    """(time index, batch index) gathering step order from positions, or None when they coincide."""
    if not reverse:
        return None
    t = np.arange(T)[:, None]
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t), np.arange(B)


def _taken(shapes, dtype):
    return [take(s, dtype) for s in shapes]


@once_differentiable(SECOND_ORDER)
class CompiledSequence(Function):
    """(x, *states, *frontier) -> (out, *final states) for a Plan and its generated kernels.

    The batch runs in row parts side by side when blas_threads.row_parts says so (rows are
    independent sequences): each part is a whole run of the kernels on its rows; the parts' outputs
    and state gradients are joined along the batch, their weight and vector gradients summed."""

    @staticmethod
    def forward(ctx, x, *rest):
        plan, (kernels, layout), lengths, reverse = rest[-4:]
        n = len(plan.state_sizes)
        h0 = [np.ascontiguousarray(s) for s in rest[:n]]
        frontier = rest[n:-4]
        T, B, I = x.shape
        dt = x.dtype
        if T == 0 or B == 0:  # nothing to run: no output, the states pass through
            ctx.empty = True
            return (np.zeros((T, B, plan.state_sizes[0]), dt), *[s.copy() for s in h0])
        ctx.empty = False
        lengths = np.full(B, T, np.int64) if lengths is None else np.ascontiguousarray(lengths, np.int64)
        full = lengths.min() == T  # no padded position
        order = step_order(T, B, lengths, reverse)
        xs = x[order] if order is not None else x
        if not full:
            xs = np.where((np.arange(T)[:, None] < lengths[None, :])[..., None], xs, 0)
        hoisted = set(plan.hoisted)
        read = [frontier[i].T if t else frontier[i] for i, t in plan.mats]  # the (k, n) matrix each product reads
        mats = [_matrix(a, dt, m in hoisted) for m, a in enumerate(read)]
        vecs = [np.asarray(frontier[i], dtype=dt).reshape(-1) for i, _ in plan.vecs]
        sz, offs, widths = layout.offsets(plan, [v.size for v in vecs])
        run = _Run(plan, kernels, layout, sz, np.array(plan.consts, dt), offs, widths, mats,
                   [a.flags.f_contiguous and not a.flags.c_contiguous for a in read],
                   np.concatenate(vecs) if vecs else np.zeros(0, dt),
                   [_transposed_matrix(read[m], mats[m], dt) for m in plan.steps], read)
        ctx.parts = row_parts(B, run.width, T)
        parts = run_parts(ctx.parts, run.width, lambda rows: run.forward(
            np.ascontiguousarray(xs[:, rows], dtype=dt), [h[rows] for h in h0], lengths[rows], full))
        out, *finals = joined([(p[0], *p[1]) for p in parts], [1] + [0] * n)
        ctx.run, ctx.order, ctx.saved = run, order, [p[2] for p in parts]
        on_free = getattr(ctx, "call_on_free", None)  # recycle the buffers once the graph lets go of them
        if on_free is not None:
            saved = ctx.saved
            on_free(lambda: [_release(part.buffers) for part in saved])
        return (out[order] if order is not None else out, *finals)

    @staticmethod
    def backward(ctx, d_out, *d_finals):
        if ctx.empty:  # an empty batch: zero gradients for the parameters too, as the unrolled loop's
            frontier = ctx.inputs[1 + len(d_finals):-4]
            return (np.zeros(ctx.inputs[0].shape, d_out.dtype), *d_finals,
                    *[np.zeros(t.shape, d_out.dtype) for t in frontier], None, None, None, None)
        run, order = ctx.run, ctx.order
        dt = run.cst.dtype
        dos = d_out.detach().numpy()
        dos = dos[order] if order is not None else dos
        dst = [g.detach().numpy() for g in d_finals]
        wait_aside(run.kernels)
        need_dx = ctx.needs_input_grad[0]
        parts = run_parts(ctx.parts, run.width, lambda rows, saved: run.backward(
            saved, np.ascontiguousarray(dos[:, rows], dtype=dt), [np.array(g[rows], dtype=dt, order="C") for g in dst],
            need_dx), ctx.saved, then=run.products)
        read = run.layout.read  # an input or initial state the step never reads gets None, as unrolled
        d_initial = [g if ("s", k) in read else None
                     for k, g in enumerate(joined([p[1] for p in parts], [0] * len(dst)))]
        dxs = joined([p[:1] for p in parts], [1])[0] if need_dx and ("x",) in read else None
        d_mats = [total([p[2][m] for p in parts]) for m in range(len(run.mats))]
        dpv = total([p[3] for p in parts])
        plan = run.plan
        d_frontier = [None] * (len(ctx.needs_input_grad) - 1 - len(dst) - 4)
        for (i, t), d in zip(plan.mats, d_mats):
            d = d.T if t else d  # a product read Wᵀ: W's gradient is its gradient's transpose
            d_frontier[i] = d if d_frontier[i] is None else d_frontier[i] + d
        frontier_shapes = [t.shape for t in ctx.inputs[1 + len(dst):-4]]
        starts = run.offs[len(run.offs) - len(plan.vecs) - 1:]  # each vector's place in pv, and dpv
        for k, (i, is_condition) in enumerate(plan.vecs):
            if not is_condition:
                g = dpv[starts[k]:starts[k + 1]].reshape(frontier_shapes[i])
                d_frontier[i] = g if d_frontier[i] is None else d_frontier[i] + g
        dx = dxs[order] if dxs is not None and order is not None else dxs
        return (dx, *d_initial, *d_frontier, None, None, None, None)


class _Part:
    """What the backward of one row part reads: its inputs, states and the forward's saved values."""

    def __init__(self, xs, hx, h0, lengths, L, sv, mm, VS):
        self.xs, self.hx, self.h0, self.lengths, self.L, self.sv, self.mm, self.VS = xs, hx, h0, lengths, L, sv, mm, VS
        self.buffers = sv + mm + [VS]


class _Run:
    """The kernels of one plan and the arrays every row part shares (sizes, constants, matrices)."""

    def __init__(self, plan, kernels, layout, sz, cst, offs, widths, mats, transposed, pv, wf, read):
        self.plan, self.kernels, self.layout = plan, kernels, layout
        self.sz, self.cst, self.offs, self.widths, self.mats, self.transposed, self.pv, self.wf = (
            sz, cst, offs, widths, mats, transposed, pv, wf)
        self.read, self._wb = read, {}
        self.width = _step_width(plan, mats)

    def _backward_products(self, batch, dt):
        """(rows per call, Wᵀ C-ordered or an empty placeholder) of each backward per-step product
        g Wᵀ, g (batch, n), Wᵀ (n, k): in calls of rows when step_product_rows splits it (Wᵀ is
        then the parameter W itself for the built-in layers, no copy), else one (W gᵀ)ᵀ. Measured
        (one thread, numba's dot, Zen 4, W (512, 128)): 16 rows in calls of 8 took 18.7 µs against
        28.1 as (W gᵀ)ᵀ, 32 rows 37.0 against 50.1; on two threads 32 rows are even (37.3, 37.7)."""
        rows, wb = [], []
        for m in self.plan.steps:
            n, k = self.mats[m].shape[1], self.mats[m].shape[0]
            r = step_product_rows(batch, n, k, dt)
            rows.append(r)
            if r < batch and m not in self._wb:
                self._wb[m] = _matrix(self.read[m].T, dt, hoisted=False)
            wb.append(self._wb[m] if r < batch else np.zeros((0, 0), dt))
        return np.array(rows, np.int64), wb

    def forward(self, xs, h0, lengths, full):
        """(out, final states, _Part) of rows whose inputs are xs (T, b, I), states h0, lengths (all
        T when full: the kernel then writes every position of out)."""
        plan, layout, mats, dt = self.plan, self.layout, self.mats, xs.dtype
        T, B, I = xs.shape
        hx = [dot(xs.reshape(T * B, I), mats[m]).reshape(T, B, -1) for m in plan.hoisted]
        sv = _taken([(T, B, s) for s in plan.state_sizes], dt)
        mm = _taken([((T,) if k in layout.kept_products else ()) + (B, mats[m].shape[1])
                     for k, m in enumerate(plan.steps)], dt)
        VS = take((T, B, self.widths["saved"]), dt)
        out = (np.empty if full else np.zeros)((T, B, plan.state_sizes[0]), dt)
        rows = np.array([step_product_rows(B, *mats[m].shape, dt) for m in plan.steps], np.int64)
        self.kernels.forward(self.sz, self.cst, self.offs, lengths, xs, *hx, *[mats[m] for m in plan.steps], *self.wf,
                             rows, self.pv, *h0, *sv, *mm, out, VS)
        L = T if full else int(lengths.max())
        return out, [s[L - 1].copy() for s in sv], _Part(xs, hx, h0, lengths, L, sv, mm, VS)

    def backward(self, part, dos, dst, need_dx):
        """The BPTT kernel of one row part: what products() completes; dst (the final states'
        gradients) become the initial states'."""
        plan, layout, mats = self.plan, self.layout, self.mats
        xs, hx, h0, sv, lengths = part.xs, part.hx, part.h0, part.sv, part.lengths
        T, B, I = xs.shape
        dt = xs.dtype
        gmm = _taken([(T, B, mats[m].shape[1]) for m in plan.steps], dt)  # the kernel writes all their rows
        own = [k for k in range(len(hx)) if ("hx", k) not in layout.shared]
        ghx = {k: _taken([hx[k].shape], dt)[0] for k in own}
        am = _taken([(T, B, mats[m].shape[0]) for k, m in enumerate(plan.steps) if k not in layout.state_operands], dt)
        dpv = np.zeros(self.widths["vector"], dt)
        dxs = None  # a kernel that writes no dx gets an empty placeholder, which it never reads
        if layout.writes_dx:  # the kernel adds to dx: zeros, a pooled scratch array without need_dx
            dxs = np.zeros((T, B, I), dt) if need_dx else take((T, B, I), dt)
            if not need_dx:
                dxs.fill(0)
        rows, wb = self._backward_products(B, dt)
        self.kernels.backward(self.sz, self.cst, self.offs, lengths, xs, *hx, *[mats[m] for m in plan.steps], *wb, rows,
                              self.pv, *h0, *sv, *part.mm, dos, *dst, *ghx.values(), *gmm, *am, dpv,
                              np.zeros((0, 0, 0), dt) if dxs is None else dxs, part.VS)
        return part, need_dx, gmm, ghx, am, dxs, dst, dpv

    def products(self, kernel_result):
        """(dxs (None without need_dx), initial state gradients, matrix gradients, vector gradients) of
        one row part after its BPTT kernel: the weight gradients, one product each over all steps, and
        with need_dx the hoisted products' share of dx (G Wᵀ, the largest product after the loop)."""
        part, need_dx, gmm, ghx, am, dxs, dst, dpv = kernel_result
        plan, layout, mats, transposed = self.plan, self.layout, self.mats, self.transposed
        xs, h0, sv, L = part.xs, part.h0, part.sv, part.L
        T, B, I = xs.shape
        dt = xs.dtype
        x2 = xs[:L].reshape(L * B, I)
        products, operands = {}, iter(am)  # gradient buffer -> (its rows, [(matrix, its operand's row blocks)])
        for k, m in enumerate(plan.hoisted):
            shared = layout.shared.get(("hx", k))
            g2 = (ghx[k] if shared is None else gmm[shared[1]])[:L].reshape(L * B, -1)
            products.setdefault(shared or ("hx", k), (g2, []))[1].append((m, [x2]))
            if need_dx:
                dxs = _added(dxs, dot(g2, mats[m].T).reshape(L, B, I), T)
        for k, m in enumerate(plan.steps):
            i = layout.state_operands.get(k)  # the product read state i: h0 at step 0, else sv[i][s - 1]
            blocks = ([h0[i], sv[i][:L - 1].reshape((L - 1) * B, sv[i].shape[2])] if i is not None
                      else [next(operands)[:L].reshape(L * B, -1)])
            products.setdefault(("mm", k), (gmm[k][:L].reshape(L * B, -1), []))[1].append((m, blocks))
        d_mats = [None] * len(mats)
        for g2, members in products.values():
            ms = [m for m, _ in members]
            for m, d in zip(ms, _weight_grads([blocks for _, blocks in members], g2, [transposed[m] for m in ms])):
                d_mats[m] = d
        _release([*ghx.values(), *gmm, *am] + ([dxs] if layout.writes_dx and not need_dx else []))
        if need_dx and dxs is None:  # no product of x, and the kernel writes no dx
            dxs = np.zeros((T, B, I), dt)
        return dxs if need_dx else None, dst, d_mats, dpv


def _added(dxs, g, T):
    """dxs + g over the first len(g) positions; g itself (padded with zeros to T) when dxs is None."""
    if dxs is not None:
        dxs[:len(g)] += g
        return dxs
    if len(g) == T:
        return g
    out = np.zeros((T, *g.shape[1:]), g.dtype)
    out[:len(g)] = g
    return out


def _matrix(a, dt, hoisted):
    """A product's matrix as the kernels read it: a hoisted product's as it is when C- or F-ordered
    (numba's dot reads either), a per-step product's C-ordered (the generated kernels take C arrays);
    a transposed view (Wᵀ) of 256 KB or more is copied in blocks (NumPy's strided copy is twice as slow
    from that size on: 68 against 37 µs for W (512, 128) in float32, measured on a Xeon)."""
    a = a if a.dtype == dt else a.astype(dt)
    if a.flags.c_contiguous or hoisted and a.flags.f_contiguous:
        return a
    if a.flags.f_contiguous and a.nbytes >= 1 << 18:
        out = np.empty(a.shape, dt)
        transpose_into(a.T, out)
        return out
    return np.ascontiguousarray(a)


TRANSPOSED_PRODUCT_BYTES = 1 << 20  # per-step products with a matrix this large run as (Wᵀ aᵀ)ᵀ


def _transposed_matrix(read, mat, dt):
    """Wᵀ C-ordered (as _matrix lays out a matrix) for the forward kernel's per-step product a W
    when W (mat) has TRANSPOSED_PRODUCT_BYTES or more, else an empty placeholder. One thread, ours
    against the product a W, LSTM weights (4H, H) float32 on an AVX-512 Xeon: 0.59-0.96 of its time
    at H=256 and 0.55-0.88 at H=512 for batches of 8 to 64 (the transpose back included), but 1.0-3.4
    at H <= 128. For nn.Linear's weight Wᵀ is the parameter itself; otherwise a copy."""
    if mat.nbytes < TRANSPOSED_PRODUCT_BYTES:
        return np.zeros((0, 0), dt)
    return _matrix(read.T, dt, hoisted=False)


def _weight_grads(operands, g, transposed):
    """aᵀ g for each operand a (given as blocks of rows) of the products whose outputs share the
    gradient g, laid out as each matrix: a transposed view (Wᵀ of a parameter W) gets (gᵀ a)ᵀ, so
    that W's gradient arrives C-ordered, as W is (an optimizer's update of a strided gradient runs
    several times slower). Operands of one layout are one product over their columns side by side
    ([x | h_prev] in every gated cell): the BLAS then packs g once, not once per product (0.8 ms of
    4.8 at config b)."""
    if len(set(transposed)) > 1:
        return [x for a, t in zip(operands, transposed) for x in _weight_grads([a], g, [t])]
    widths = list(itertools.accumulate([a[0].shape[1] for a in operands], initial=0))
    if len(operands) == 1 and len(operands[0]) == 1:
        stacked, pooled = operands[0][0], False
    else:  # copied side by side into a pooled buffer (fresh pages would fault at every call)
        stacked, pooled = take((g.shape[0], widths[-1]), g.dtype), True
        for a, lo, hi in zip(operands, widths[:-1], widths[1:]):
            np.concatenate(a, out=stacked[:, lo:hi])
    d = dot(g.T, stacked) if transposed[0] else dot(stacked.T, g)
    if pooled:
        give(stacked)
    if transposed[0]:
        return [d[:, lo:hi].copy().T if len(operands) > 1 else d.T for lo, hi in zip(widths[:-1], widths[1:])]
    return [d[lo:hi] for lo, hi in zip(widths[:-1], widths[1:])]


def _step_width(plan, mats):
    """Inner times outer size of the widest per-step product (the thread policy's measure)."""
    return max([mats[m].size for m in plan.steps], default=0)


def _release(arrays):
    for a in arrays:
        give(a)
