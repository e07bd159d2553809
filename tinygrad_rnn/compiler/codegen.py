"""Python source of the whole-sequence forward and BPTT kernels for a traced Plan.

Both are ``@njit(cache=True, error_model="numpy", fastmath={"reassoc"}, nogil=True)`` functions
with the time loop inside (plain Python under NUMBA_DISABLE_JIT; nogil, because the row parts of a
batch run them side by side in threads). Each step value is a (B, w) array the kernel allocates,
written by a loop over the active rows, or a scalar when it never leaves its loop; a slice or chunk
is a column offset, not a copy (placement.py decides where each value and gradient lives, op_rules.py
holds each op's templates). What compile time and speed taught (see Layout, groups): few array
arguments, the kernel's own arrays (LLVM knows they do not overlap, so loops vectorise without
run-time checks), each argument array written at one column offset per loop, and column offsets
read through views taken before the loop (_column_views).

The backward is not derived by differentiating the engine's backward formulas (create_graph=True):
those capture trace-time arrays (Clamp's mask, Abs's sign, Maximum's tie weights, the condition of
Where, Relu's y > 0) that would be wrong at every other step, and they call ops outside the set
(the fused activation gradients, index scatters). Instead each op has its vector-Jacobian rule here
(``op_rules.VJP``), evaluated on values the forward saved for every position: only those a rule reads
(``saved_reads``; stored into one packed array VS, only the slice read when it is one, as GRU's h_n
of its three-gate product). Saving measured faster than recomputing
the step in the backward (214 -> 175 ms per LN-LSTM step here) and halves the code numba compiles;
only a cheap value whose operands the backward has is evaluated again where it is read
(``_recomputed``: the new states, x - mean and its normalised x of a layer norm).
The backward sweeps each step's graph in reverse; per-step products give da = g Wᵀ (one BLAS call)
and keep g (and a, unless a is a state, which the forward kept anyway) per step, so that
dW = Σ aᵀ g is one product after the loop, as is dx for the hoisted input products.
"""
import re

import numpy as np

from .op_rules import FORWARD, LETTERS, operand_refs, pow_forward, substitute, value_name, vjp_rules
from .placement import (aliased_gradients, assigned_gradients, contributions, groups, local_nodes, row_scalars,
                        saved_nodes, saved_reads, seeded_outputs, shared_gradients, states_in_place, tiled_gradients)
from .trace import Ref


def _grad_name(buf):
    kind = buf[0]
    return {"x": "gxt", "s": f"dst{buf[-1]}", "v": f"g{buf[-1]}", "mm": f"gmm{buf[-1]}s", "hx": f"ghx{buf[-1]}s",
            "p": f"dp{buf[-1]}", "c": None}[kind]


def _col(ref, j="j"):
    """The column of ref that loop index j reads."""
    return ref.off if ref.width == "1" else (j if ref.off == "0" else f"{ref.off} + {j}")


def _at(ref, name, j="j"):
    """The element of ref at column j of the current row b."""
    if ref.buf[0] == "c":
        return name
    return f"{name}[{_col(ref, j)}]" if ref.buf[0] == "p" else f"{name}[b, {_col(ref, j)}]"


def _save(ref, saved):
    """The statement keeping a value the backward reads in VS (none for the others)."""
    return [f"VS[s, b, o{ref.buf[1]} + {_col(ref)}] = {_val(ref)}"] if ref.buf[1] in saved else []


def _val(ref):
    return _at(ref, value_name(ref.buf))


class _Writer:
    """Collects source lines; consecutive row blocks share one loop over the active rows b (rows are
    independent between products, so one pass over b serves every element-wise run in between)."""

    def __init__(self):
        self.lines, self.pending = [], []

    def __call__(self, indent, text):
        self.flush()
        self.lines.append("    " * indent + text)

    def rows(self, indent, width, body, after=(), before=()):
        """A block for each active row b: before; for j in range(width): body; after (none if all are empty)."""
        if not (body or after or before):
            return
        block = list(before)
        if width == "1":
            block += [re.sub(r"\bj\b", "0", line) for line in body]
        else:
            body, hoisted, sums = _loop_invariants(body, len(self.lines) + len(self.pending))
            block += hoisted + [f"for j in range({width}):"] + ["    " + line for line in body] + sums
        self.pending.append((indent, block + list(after)))

    def flush(self):
        if not self.pending:
            return
        indent = self.pending[0][0]
        self.lines += ["    " * indent + "for b in range(B):", "    " * (indent + 1) + "if s < lengths[b]:"]
        for _, block in self.pending:
            self.lines += ["    " * (indent + 2) + line for line in block]
        self.pending = []


_ELEMENT = re.compile(r"\b\w+\[[^\]]*\]")


def _loop_invariants(body, tag):
    """Move what does not depend on j out of a loop body: element reads become locals read once
    before the loop, and += into one element becomes a local sum added after it. Fewer arrays in
    the loop means fewer runtime alias checks, which is what lets LLVM vectorise it."""
    written = {re.match(r"(.*?) \+?= ", line).group(1) for line in body}
    invariant = lambda e: not re.search(r"\bj\b", e)  # noqa: E731
    names, hoisted, sums, out = {}, [], [], []
    for line in body:
        target, op, expr = re.match(r"(.*?) (\+?=) (.*)", line).groups()

        def local(m):
            e = m.group(0)
            if not invariant(e) or e in written:
                return e
            if e not in names:
                names[e] = f"r{tag}_{len(names)}"
                hoisted.append(f"{names[e]} = {e}")
            return names[e]
        expr = _ELEMENT.sub(local, expr)
        if op == "+=" and invariant(target) and "[" in target:
            acc = f"a{tag}_{len(sums)}"
            hoisted.append(f"{acc} = c0")
            sums.append(f"{target} += {acc}")
            target = acc
        out.append(f"{target} {op} {expr}")
    return out, hoisted, sums


# reassoc lets LLVM vectorise the feature-dim sums (a serial float chain otherwise); it changes
# rounding only (no NaN/inf assumptions), so float64 still matches the unrolled graph to ~1e-15.
_DECORATOR = '@njit(cache=True, error_model="numpy", fastmath={"reassoc"}, nogil=True)'


def _elementwise_expr(node):
    if node.op == "pow":
        template = pow_forward(node.attrs["p"])
    elif node.op == "clamp":
        template = "A"
        if node.attrs["lo"] is not None:
            template = f"max({template}, {value_name(node.attrs['lo'].buf)})"
        if node.attrs["hi"] is not None:
            template = f"min({template}, {value_name(node.attrs['hi'].buf)})"
    else:
        template = FORWARD[node.op]
    return substitute(template, {LETTERS[i]: _val(r) for i, r in enumerate(node.args)})


def _emit_step_product(w, node):
    """out = a W for a per-step product: as (Wᵀ aᵀ)ᵀ when the caller handed Wᵀ C-ordered (wf, rows
    > 0; it does for large W, where OpenBLAS runs W x aᵀ up to twice as fast as a x W at small
    batches: it packs the small operand, not W, on every call), the result transposed back
    (kernels.matrices.transpose_into); else in calls of pr[k] rows each (the caller's choice,
    kernels.matrices.step_product_rows)."""
    m, k, out, a = node.attrs["mat"], node.out[1], value_name(node.out), value_name(node.args[0].buf)
    w(2, f"if wf{m}.shape[0] > 0:")
    w(3, f"np.dot(wf{m}, {a}.T, tf{m})")
    w(3, f"transpose_into(tf{m}, {out})")
    w(2, "else:")
    w(3, f"for r in range(0, B, pr[{k}]):")
    w(4, f"np.dot({a}[r:r + pr[{k}]], w{m}, {out}[r:r + pr[{k}]])")


def _emit_forward_run(w, run, layout):
    kind, width, nodes = run
    saved, sliced = layout.saved, layout.sliced
    node = nodes[0]
    if kind == "matmul":
        if node.out[0] == "mm":
            _emit_step_product(w, node)
    elif kind == "cat":
        out = value_name(node.out)
        for part, off in zip(node.args, node.attrs["offsets"]):
            piece = Ref(node.out, off, part.width)
            w.rows(2, part.width, [f"{_at(piece, out)} = {_val(part)}"] + _save(piece, saved))
    else:
        body, before, after = [], [], []
        for nd in nodes:
            out = value_name(nd.out)
            if nd.op == "sum":
                before.append(f"acc{nd.out[1]} = c0")
                body.append(f"acc{nd.out[1]} += {_val(nd.args[0])}")
                after += [f"{out}[b, 0] = acc{nd.out[1]}"] + _save(Ref(nd.out, "0", "1"), saved)
            else:
                body += [f"{out}[b, j] = {_elementwise_expr(nd)}"]
                body += [] if nd.out[1] in sliced else _save(Ref(nd.out, "0", nd.width), saved)
        w.rows(2, width, body, after, before)
        for nd in nodes:  # a node the backward reads one slice of keeps only that slice
            if nd.out[1] in sliced:
                off, part = sliced[nd.out[1]]
                w.rows(2, part, [f"VS[s, b, o{nd.out[1]} + j] = {_at(Ref(nd.out, off, part), value_name(nd.out))}"])


def _accumulate(ref, expr, layout):
    """The statement adding expr to ref's gradient (assigning it, for a gradient with one contribution)."""
    return f"{_at(ref, _grad_name(ref.buf))} {'=' if ref.buf in layout.assigned else '+='} {expr}"


def _vjp_lines(node, layout, started):
    """Statements adding node's vector-Jacobian product to its operands' gradients, then zeroing its
    own. A gradient in ``layout.local_grads`` is a scalar gl{n}: its first contribution (``started``
    records which have one) assigns it, and nothing zeroes it; one in ``layout.shared`` is not written."""
    op, args, local = node.op, node.args, layout.local_grads

    def add(ref, expr):
        if ref.buf in layout.shared or layout.aliases.get(node.out) == ref.buf:
            return None
        n = ref.buf[1] if ref.buf[0] == "v" else None
        if n not in local:
            return _accumulate(ref, expr, layout)
        first = n not in started
        started.add(n)
        return f"gl{n} {'=' if first else '+='} {expr}"

    g = _grad_name(node.out)
    if op == "sum":
        src = args[0]
        line = None if _grad_name(src.buf) is None else add(src, f"{g}[b, 0]")
        return ([] if line is None else [line]), [f"{g}[b, 0] = c0"]
    n = node.out[1]
    gy = (f"gl{n}" if n in started else "c0") if n in local else f"gy{n}"
    values = {LETTERS[i]: _val(_as_saved(r, layout)) for i, r in enumerate(args)}
    values.update(y=f"{value_name(node.out)}[b, j]", gy=gy)
    rules = vjp_rules(node)
    if not rules:
        return [], []
    lines = [] if n in local else [f"gy{n} = {g}[b, j]"]
    for i, rule in rules.items():
        line = None if _grad_name(args[i].buf) is None else add(args[i], substitute(rule, values))
        lines += [] if line is None else [line]
    kept = n in local or node.out in layout.aliases or node.out in layout.assigned  # nothing to zero
    return lines + ([] if kept else [f"{g}[b, j] = c0"]), []


def _seed(k):
    """The gradient reaching new state k: from the next step (dst_k), and for the output, from it."""
    return f"dst{k}[b, j]" + (" + dos[s, b, j]" if k == 0 else "")


def _as_saved(ref, layout):
    """ref as the backward reads it: a slice kept alone (Layout.sliced) starts at the saved column 0."""
    part = layout.sliced.get(ref.buf[1]) if ref.buf[0] == "v" else None
    return Ref(ref.buf, "0", ref.width, ref.flat) if part == (ref.off, ref.width) else ref


def _emit_backward_run(w, run, layout):
    kind, width, nodes = run
    node = nodes[0]
    if kind == "matmul":
        if node.out[0] == "mm":
            k, a = node.out[1], node.args[0]
            if k not in layout.state_operands:  # a state's dW comes from sv itself (see sequence.py)
                w(2, "for b in range(B):")
                w(3, f"for j in range({a.width}):")
                w(4, f"am{k}[s, b, j] = {_val(a)} if s < lengths[b] else c0")
            # da = g Wᵀ: in calls of prb[k] rows against Wᵀ C-ordered (wb, when the caller handed it:
            # OpenBLAS's small-matrix kernel reads it in place), else as (W gᵀ)ᵀ, which OpenBLAS runs
            # faster than one call of g Wᵀ (62 -> 49 µs at B=32, H=128)
            m = node.attrs["mat"]
            w(2, f"if wb{m}.shape[0] > 0:")
            w(3, f"for r in range(0, B, prb[{k}]):")
            w(4, f"np.dot(gmm{k}s[r:r + prb[{k}]], wb{m}, tb{k}[r:r + prb[{k}]])")
            w.rows(3, a.width, [_accumulate(a, f"tb{k}[b, j]", layout)])
            w(2, "else:")
            w(3, f"np.dot(w{m}, gmm{k}s.T, tk{k})")
            w.rows(3, a.width, [_accumulate(a, f"tk{k}[j, b]", layout)])
            w.flush()
    elif kind == "cat":
        g = _grad_name(node.out)
        for part, off in zip(node.args, node.attrs["offsets"]):
            src = _at(Ref(node.out, off, part.width), g)
            body = [] if _grad_name(part.buf) is None else [_accumulate(part, src, layout)]
            w.rows(2, part.width, body + [f"{src} = c0"])
    else:
        body, after, started = [], [], set()
        for k, n in layout.seeded.items():
            if ("v", n) in {nd.out for nd in nodes}:
                body.append(f"gl{n} = {_seed(k)}")
                started.add(n)
        for nd in reversed(nodes):
            lines, finals = _vjp_lines(nd, layout, started)
            body += lines
            after += finals
        w.rows(2, width, body, after)


class Layout:
    """Which arrays the kernels take as arguments, and where the packed ones keep each value.

    Every step value v12 and every gradient g12 is a (B, w) array the kernel allocates itself: LLVM
    knows such arrays do not overlap, so their loops vectorise, and numba compiles an array argument
    slowly (~20 ms each; LN-LSTM's kernels took 180 of them before). What must cross the kernels'
    boundary is packed: the values the backward reads, and does not evaluate again, go into columns
    of one saved array VS (T, B, ·), stored there as they are computed, and the frontier vectors p3
    are pieces of one pv (their gradients of one dpv). Column offsets arrive at run time in ``offs``,
    so the kernels stay independent of the sizes; ``pack`` rewrites the logical reads (p3[j], and
    v12[b, j] in the backward) onto them.
    """

    def __init__(self, plan):
        self.kept_products = saved_nodes(plan, "mm")  # per-step products kept (T, B, w); the others (B, w)
        self.recomputed, reads = _recomputed(plan, saved_reads(plan), self.kept_products, self)
        self.saved = sorted(reads)
        runs = groups(plan, self.saved)
        outputs = {r.buf for r in plan.outputs}
        backward_runs = groups(plan, self.saved, backward=True)
        self.shared = shared_gradients(plan)
        self.assigned = assigned_gradients(plan, self.shared)
        backward_locals = local_nodes(plan, backward_runs)
        self.aliases = aliased_gradients(plan, self.shared, backward_locals)
        tiled = tiled_gradients(plan, self.shared)
        self.assigned |= tiled
        self.assigned -= {product for v, product in self.aliases.items() if v not in tiled}  # zeroed first
        self.local_values = local_nodes(plan, runs) - {n for _, n in outputs}
        self.in_place = states_in_place(plan)
        self.seeded = seeded_outputs(plan, backward_runs, backward_locals, self.assigned)
        self.local_grads = backward_locals - ({n for _, n in outputs} - set(self.seeded.values()))
        self.row_values = row_scalars(plan, runs) - {n for _, n in outputs}
        self.row_grads = row_scalars(plan, backward_runs[::-1]) - {n for _, n in outputs}
        width = {nd.out[1]: nd.width for nd in plan.nodes if nd.out[0] == "v"}
        array = {nd.out[1] for nd in plan.nodes if nd.out[0] == "v" and nd.op != "cat" and nd.width != "1"}
        array -= self.local_values
        self.sliced = {n: next(iter(r)) for n, r in reads.items()  # n -> (offset, width) kept
                       if len(r) == 1 and next(iter(r)) != ("0", width[n]) and n in array}
        # the products' gradients the backward writes -> their widths
        self.products = {nd.out: nd.width for nd in plan.nodes
                         if nd.out[0] in ("mm", "hx") and nd.out not in self.shared}
        self.read = {r.buf for nd in plan.nodes for r in operand_refs(nd) if r.buf[0] in ("x", "s")}  # x, states
        self.writes_dx = any(buf == ("x",) for buf, _, _ in contributions(plan))  # else dx comes from products
        self.state_operands = {nd.out[1]: nd.args[0].buf[1] for nd in plan.nodes  # product k -> state read whole
                               if nd.out[0] == "mm" and nd.args[0].buf[0] == "s"}
        self.names = [f"o{n}" for n in self.saved] + [f"q{k}" for k in range(len(plan.vecs) + 1)]
        self._offsets = {}

    def offsets(self, plan, vector_sizes):
        """(sz, offs, widths): the sizes' values in symbol order, the int64 offsets in ``names`` order
        and the packed arrays' widths; kept per sizes (a library step's plan is reused call after call)."""
        key = (tuple(plan.sizes.items()), tuple(vector_sizes))
        if key not in self._offsets:
            sz = np.array([plan.sizes[k] for k in sorted(plan.sizes, key=lambda s: int(s[1:]))], np.int64)
            self._offsets[key] = (sz, *self._packed(plan, vector_sizes))
        return self._offsets[key]

    def _packed(self, plan, vector_sizes):
        width = {n.out[1]: plan.sizes.get(self.sliced[n.out[1]][1] if n.out[1] in self.sliced else n.width, 1)
                 for n in plan.nodes if n.out[0] == "v"}
        saved = np.cumsum([0] + [width[n] for n in self.saved])
        vectors = np.cumsum([0] + list(vector_sizes))
        offs = np.concatenate([saved[:-1], vectors]).astype(np.int64)
        return offs, {"saved": int(saved[-1]), "vector": int(vectors[-1])}

    def pack(self, source, backward):
        """source with the logical reads of vectors and (in the backward) of saved values packed, the
        values that never leave their loop as scalars t{n}, the (B, 1) values (rv{n}) and gradients
        (rg{n}) that never leave their pass over the rows as scalars, and unused prologue reads dropped."""
        if backward:
            source = re.sub(r"\bv(\d+)\[b, ([^\]]*)\]", lambda m: self.recomputed[int(m.group(1))](m.group(2))
                            if int(m.group(1)) in self.recomputed else m.group(0), source)
        source = re.sub(r"\bp(\d+)\[([^\]]*)\]", lambda m: f"pv[q{m.group(1)} + {m.group(2)}]", source)
        if backward:
            source = re.sub(r"\bv(\d+)\[b, ([^\]]*)\]", lambda m: f"vs[b, o{m.group(1)} + {m.group(2)}]", source)
            source = _rename(source, r"\bg(\d+)\[b, 0\]", self.row_grads, "rg")
            for (_, n), product in self.aliases.items():
                source = re.sub(rf"\bg{n}\[", f"{_grad_name(product)}[", source)
        else:
            source = _rename(source, r"\bv(\d+)\[b, j\]", self.local_values, "t")
            source = _rename(source, r"\bv(\d+)\[b, 0\]", self.row_values, "rv")
        source = source.replace(" + 0]", "]")
        lines = source.split("\n")
        words = re.findall(r"\w+", source)
        used = {w_: words.count(w_) for w_ in set(words)}
        unused = re.compile(r"    (\w+) = (sz|offs|cst)\[\d+\]$")
        return "\n".join(line for line in lines if not (unused.match(line) and used[unused.match(line).group(1)] == 1))


_AT_OFFSET = re.compile(r"\b(\w+)\[((?:\w+, )*)(\w+) \+ j\]")


def _column_views(source):
    """source with each read or write at a run-time column offset inside a loop over j (X[b, o3 + j])
    going through a view taken before the loop (X_b_o3 = X[b, o3:]; X_b_o3[j]). numba wraps a
    possibly negative index around, and o3 + j is not provably non-negative, so the offset form kept
    such loops scalar; a view's index j is a loop counter, which LLVM knows to be non-negative."""
    lines, out, i = source.split("\n"), [], 0
    while i < len(lines):
        head = re.match(r"( *)for j in range\(.*\):$", lines[i])
        if head is None:
            out.append(lines[i])
            i += 1
            continue
        indent, end = head.group(1), i + 1
        while end < len(lines) and lines[end].startswith(indent + " "):
            end += 1
        views = {}

        def view(m):
            name = "_".join([m.group(1), *m.group(2).split(", ")[:-1], m.group(3)])
            views[name] = f"{m.group(1)}[{m.group(2)}{m.group(3)}:]"
            return f"{name}[j]"
        body = [_AT_OFFSET.sub(view, line) for line in lines[i + 1:end]]
        out += [f"{indent}{name} = {expr}" for name, expr in views.items()] + [lines[i]] + body
        i = end
    return "\n".join(out)


_RECOMPUTABLE = {"add", "sub", "mul", "div", "neg", "copy"}  # cheap to evaluate again, no branch
_COMPARING = {"maximum", "minimum", "abs", "clamp", "where"}  # rules that compare their operands
_RECOMPUTE_OPS = 3  # operations inlined into one read, at most


def _recomputed(plan, reads, kept_products, layout):
    """({node index: column -> expression}, reads left) for the values the backward reads without
    the forward saving them: a new state is in sv (kept anyway), and a cheap node whose operands the
    backward has (saved values, states, inputs, parameters) is evaluated again where it is read
    (LN-LSTM's x - mean and its normalised x: 2,944 -> 1,152 saved columns per row and step).
    Evaluated again, a value may differ from the forward's in its last bit (fastmath reassoc), so an
    operand that a rule compares (maximum's A > B) stays saved: the backward takes the forward's
    branch. The expressions are built when ``pack`` runs, once the layout is complete: they read
    saved values as it keeps them (a slice kept alone re-based)."""
    made = {nd.out: nd for nd in plan.nodes}
    compared = {r.buf[1] for nd in plan.nodes if nd.op in _COMPARING for r in operand_refs(nd) if r.buf[0] == "v"}
    exprs, cost, reads = {}, {}, {n: set(r) for n, r in reads.items()}
    for k, ref in enumerate(plan.outputs):
        if ref.buf[0] == "v" and ref.off == "0" and ref.width == made[ref.buf].width and ref.buf[1] not in exprs:
            exprs[ref.buf[1]] = lambda col, k=k: f"sv{k}[s, b, {col}]"
            cost[ref.buf[1]] = 0

    def operand(r):
        """column -> expression of an operand the backward has, with its cost; None if it has not."""
        kind, n = r.buf[0], r.buf[-1]
        if kind == "v" and n in exprs:
            return lambda col: exprs[n](_col(r, col)), cost[n]
        if kind == "v" and n in reads or kind in ("x", "s", "hx", "p", "c") or kind == "mm" and n in kept_products:
            return lambda col: _at(_as_saved(r, layout), value_name(r.buf), col), 0
        return None

    for nd in plan.nodes:
        n = nd.out[1]
        if nd.out[0] != "v" or n in exprs or n not in reads or nd.op not in _RECOMPUTABLE or n in compared:
            continue
        ops = [operand(r) for r in nd.args]
        if None in ops or 1 + sum(c for _, c in ops) > _RECOMPUTE_OPS:
            continue
        template = FORWARD[nd.op]
        exprs[n] = lambda col, t=template, ops=ops: "(" + substitute(
            t, {LETTERS[i]: f(col) for i, (f, _) in enumerate(ops)}) + ")"
        cost[n] = 1 + sum(c for _, c in ops)
        for r in nd.args:
            if r.buf[0] == "v" and r.buf[1] not in exprs:
                reads[r.buf[1]].add((r.off, r.width))
    return exprs, {n: r for n, r in reads.items() if n not in exprs}


def _rename(source, pattern, nodes, prefix):
    """source with the element accesses matched by pattern (group 1: a node) of the given nodes
    replaced by the scalar prefix{n}."""
    return re.sub(pattern, lambda m: f"{prefix}{m.group(1)}" if int(m.group(1)) in nodes else m.group(0), source)


def signature(plan, layout):
    """Argument names of the forward and backward kernels, in order."""
    S, H = range(len(plan.state_sizes)), range(len(plan.hoisted))
    M = range(len(plan.steps))
    common = ["sz", "cst", "offs", "lengths", "xs"] + [f"hx{k}" for k in H]
    forward = (common + [f"w{m}" for m in plan.steps] + [f"wf{m}" for m in plan.steps] + ["pr", "pv"]
               + [f"h0{k}" for k in S] + [f"sv{k}" for k in S] + [f"mm{k}" for k in M] + ["out", "VS"])
    backward = (common + [f"w{m}" for m in plan.steps] + [f"wb{m}" for m in plan.steps] + ["prb", "pv"]
                + [f"h0{k}" for k in S]
                + [f"sv{k}" for k in S] + [f"mm{k}" for k in M] + ["dos"] + [f"dst{k}" for k in S]
                + [f"ghx{k}" for k in H if ("hx", k) not in layout.shared] + [f"gmm{k}" for k in M]
                + [f"am{k}" for k in M if k not in layout.state_operands] + ["dpv", "dxs", "VS"])
    return forward, backward


def kernel_arguments(plan, layout, dtype):
    """{"forward": [...], "backward": [...]}: (dtype, ndim) of each argument of the two kernels, in
    signature() order (all C-ordered)."""
    int64 = np.dtype(np.int64).name
    ranks = {"sz": 1, "offs": 1, "lengths": 1, "pr": 1, "prb": 1, "cst": 1, "pv": 1, "dpv": 1}
    ranks.update({f"mm{k}": 2 for k in range(len(plan.steps)) if k not in layout.kept_products})
    types = lambda names: [[int64 if n in ("sz", "offs", "lengths", "pr", "prb") else np.dtype(dtype).name,  # noqa: E731
                            ranks.get(n, 2 if re.match(r"(w|wf|wb|h0|dst)\d", n) else 3)] for n in names]
    return dict(zip(("forward", "backward"), map(types, signature(plan, layout))))


def _allocate(w, plan, layout, backward):
    """The kernel's own arrays: step values (forward) or gradients, state gradients and products' dA."""
    rows = lambda width: f"(B, {width}), xs.dtype"  # noqa: E731
    local = layout.local_grads if backward else layout.local_values
    row = layout.row_grads if backward else layout.row_values
    for node in plan.nodes:
        n = node.out[1]
        if node.out[0] == "v" and n in row:
            w(1, f"{'rg' if backward else 'rv'}{n} = c0")
        elif node.out[0] == "v" and n not in local and not (
                node.out in layout.aliases if backward else n in layout.in_place):
            w(1, f"{'g' if backward else 'v'}{n} = np.{'zeros' if backward else 'empty'}({rows(node.width)})")
    if not backward:
        for node in plan.nodes:
            if node.out[0] == "mm":
                w(1, f"tf{node.attrs['mat']} = np.empty((wf{node.attrs['mat']}.shape[0], B), xs.dtype)")
        return
    for node in plan.nodes:
        if node.out[0] == "mm":
            w(1, f"tk{node.out[1]} = np.empty(({node.args[0].width}, B), xs.dtype)")
            w(1, f"tb{node.out[1]} = np.empty((B, {node.args[0].width}), xs.dtype)")
    for k in range(len(plan.vecs)):  # views of dpv, zeros on entry (a local array each compiles slower)
        w(1, f"dp{k} = dpv[q{k}:q{k + 1}]")


def _prologue(w, plan, layout, backward):
    w(1, "B = lengths.shape[0]")
    for i, name in enumerate(sorted(plan.sizes, key=lambda s: int(s[1:]))):
        w(1, f"{name} = sz[{i}]")
    for i, name in enumerate(layout.names):
        w(1, f"{name} = offs[{i}]")
    used = {r.buf[1] for n in plan.nodes for r in [*n.args, *(v for v in n.attrs.values() if isinstance(v, Ref))]
            if r.buf[0] == "c"} | {0, 1, 2}
    for k in sorted(used):
        w(1, f"c{k} = cst[{k}]")
    _allocate(w, plan, layout, backward)
    w(1, "L = 0")  # the longest length (lengths.max() costs numba a second more to compile)
    w(1, "for b in range(B):")
    w(2, "if lengths[b] > L:")
    w(3, "L = lengths[b]")
    loop = "range(L - 1, -1, -1)" if backward else "range(L)"
    w(1, f"for s in {loop}:")
    w(2, "xt = xs[s]")
    for k in range(len(plan.state_sizes)):
        w(2, f"st{k} = sv{k}[s - 1] if s > 0 else h0{k}")
    for k in range(len(plan.hoisted)):
        w(2, f"hx{k}s = hx{k}[s]")
    for k in range(len(plan.steps)):
        if k in layout.kept_products:
            w(2, f"mm{k}s = mm{k}[s]")
        elif not backward:
            w(2, f"mm{k}s = mm{k}")
    if not backward:
        for n, k in layout.in_place.items():
            w(2, f"v{n} = sv{k}[s]")
    if backward:
        w(2, "vs = VS[s]")
        if layout.writes_dx:
            w(2, "gxt = dxs[s]")
        for k in range(len(plan.hoisted)):
            if ("hx", k) not in layout.shared:
                w(2, f"ghx{k}s = ghx{k}[s]")
        for k in range(len(plan.steps)):
            w(2, f"gmm{k}s = gmm{k}[s]")


def generate(plan):
    """Module source with forward(...) and backward(...) for this plan (argument names: signature())."""
    layout = Layout(plan)
    fwd_args, bwd_args = signature(plan, layout)
    head = ['"""Generated by tinygrad_rnn.compiler from one traced step of a recurrent cell."""', "import numpy as np",
            "from numba import njit", "from tinygrad_rnn.kernels.fastmath import sigmoid, tanh",
            "from tinygrad_rnn.kernels.matrices import transpose_into", "", ""]
    w = _Writer()
    w(0, _DECORATOR)
    w(0, f"def forward({', '.join(fwd_args)}):")
    _prologue(w, plan, layout, backward=False)
    runs = groups(plan, layout.saved)
    for run in runs:
        _emit_forward_run(w, run, layout)
    _emit_commit(w, plan, layout)
    w(0, "")
    w(0, "")
    forward = _column_views(layout.pack("\n".join(w.lines), backward=False))
    w = _Writer()
    w(0, _DECORATOR)
    w(0, f"def backward({', '.join(bwd_args)}):")
    _prologue(w, plan, layout, backward=True)
    for buf, width in layout.products.items():  # zeroed a row at a time, here, where the step then adds to it
        if buf not in layout.assigned:
            w.rows(2, width, [f"{_grad_name(buf)}[b, j] = c0"])
    for k, ref in enumerate(plan.outputs):  # dst_k: the new state's gradient in, the old state's out
        if k not in layout.seeded:
            clear = [] if ("s", k) in layout.assigned else [f"dst{k}[b, j] = c0"]
            w.rows(2, ref.width, [_accumulate(ref, _seed(k), layout)] + clear)
    for run in reversed(groups(plan, layout.saved, backward=True)):
        _emit_backward_run(w, run, layout)
    if layout.products:  # the rows of sequences that have ended get no gradient (the weight products sum over rows)
        w(2, "for b in range(B):")
        w(3, "if s >= lengths[b]:")
        for buf, width in layout.products.items():
            w(4, f"for j in range({width}):")
            w(5, f"{_grad_name(buf)}[b, j] = c0")
    w(0, "")
    return "\n".join(head) + "\n" + forward + "\n" + _column_views(layout.pack("\n".join(w.lines), backward=True))


def _emit_commit(w, plan, layout):
    """Each row's new states (and output) where it is active (unless computed there in place);
    inactive rows keep their state."""
    w(2, "for b in range(B):")
    w(3, "if s < lengths[b]:")
    for k, ref in enumerate(plan.outputs):
        if ref.buf[0] != "v" or ref.buf[1] not in layout.in_place:
            w(4, f"for j in range({ref.width}):")
            w(5, f"sv{k}[s, b, j] = {_val(ref)}")
    w(4, f"for j in range({plan.outputs[0].width}):")
    w(5, "out[s, b, j] = sv0[s, b, j]")
    w(3, "else:")
    for k, ref in enumerate(plan.outputs):
        w(4, f"for j in range({ref.width}):")
        w(5, f"sv{k}[s, b, j] = st{k}[b, j]")
