"""Where each value and gradient of the generated kernels lives, decided from the plan alone: which
nodes share a loop (groups), what the forward keeps for the backward (saved_reads), and which
gradients are scalars of one loop, are written into another's array, or are assigned rather than
added to. codegen.Layout gathers these decisions; codegen writes the source from them."""
import re

from .op_rules import LETTERS, operand_refs, vjp_rules
from .trace import Ref


_TRANSCENDENTAL = {"tanh", "sigmoid", "exp", "log"}
_EXTERNAL = ("x", "s", "mm", "hx")  # gradients kept in argument arrays (the others are the kernel's own)


def _fits(run, node, width, saved, backward, shared):
    """Whether node may join the run's loop (see groups)."""
    kind, run_width, nodes, made = run
    if run_width != width or not all(r.buf not in made or (made[r.buf] and r.off == "0" and r.width == width)
                                     for r in operand_refs(node)):
        return False
    if backward:  # one argument array written per loop, at one column offset
        written = {(r.buf, r.off) for n in nodes + [node] for r in n.args
                   if r.buf[0] in _EXTERNAL and r.buf not in shared}
        return len({buf for buf, _ in written}) == len(written) <= 1
    if node.op in _TRANSCENDENTAL and any(n.op in _TRANSCENDENTAL for n in nodes):
        return False  # two inlined activations in one loop defeat LLVM's vectoriser
    # one store into VS per loop: LLVM cannot tell two column blocks of one argument apart
    return (width == "1" or node.op == "sum" or node.out[1] not in saved
            or not any(n.op != "sum" and n.out[1] in saved for n in nodes))


def groups(plan, saved, backward=False):
    """Nodes in runs that share one loop over j: a node joins the current run when its loop width
    matches and it reads values made in the run only at the same column (so, in reverse, every
    gradient it adds to lands at the column being processed), and the loop stays vectorisable
    (forward: at most one activation, one store into VS; backward, swept in reverse: one argument
    array written, at one column offset, as LLVM cannot tell two column blocks of one argument apart;
    the kernel's own arrays, which need no such checks, may be written at several). Products and
    cats stand alone; a sum accumulates in the loop and its value exists only after it."""
    runs, current = [], None
    shared = shared_gradients(plan) if backward else {}  # gradients never written (see shared_gradients)
    for node in plan.nodes:
        if node.op in ("matmul", "cat"):
            runs.append((node.op, None, [node], {}))
            current = None
            continue
        width = node.args[0].width if node.op == "sum" else node.width
        if current is None or not _fits(current, node, width, saved, backward, shared):
            current = ("loop", width, [], {})
            runs.append(current)
        current[2].append(node)
        current[3][node.out] = node.op != "sum"
    return [(kind, width, nodes) for kind, width, nodes, _ in runs]


def saved_reads(plan, kind="v"):
    """{node index: {(offset, width) read}} for the nodes (kind "v"; or the per-step products, kind
    "mm") whose values the backward reads (an operand or result its VJP rule uses, or a per-step
    product's left operand): the forward keeps those for every position (except the ones the
    backward evaluates again, _recomputed); the others live in (B, w) rows reused at every step."""
    reads = {}
    for node in plan.nodes:
        if node.op == "matmul":
            refs = [node.args[0]] if node.out[0] == "mm" else []
        elif node.op in ("sum", "cat"):
            refs = []
        else:
            letters = set(re.findall(r"\b(A|B|C|y)\b", " ".join(vjp_rules(node).values())))
            refs = [node.args[LETTERS.index(x)] for x in letters - {"y"}]
            refs += [Ref(node.out, "0", node.width)] if "y" in letters else []
        for r in refs:
            if r.buf[0] == kind:
                reads.setdefault(r.buf[1], set()).add((r.off, r.width))
    return reads


def saved_nodes(plan, kind="v"):
    """Indices of the nodes whose values the backward reads (see saved_reads)."""
    return set(saved_reads(plan, kind))


def row_scalars(plan, runs):
    """Width-1 nodes whose every use is in the pass over rows b that makes them (runs in the order
    they are written; each per-step product ends a pass): scalars per row instead of (B, 1) arrays."""
    segment, seg = {}, 0
    for kind, _, nodes in runs:
        product = kind == "matmul" and nodes[0].out[0] == "mm"
        seg += product
        for nd in nodes:
            segment[nd.out] = None if product else seg
    ok = {buf for buf, g in segment.items() if buf[0] == "v" and g is not None
          and next(nd.width for nd in plan.nodes if nd.out == buf) == "1"}
    for nd in plan.nodes:
        for r in operand_refs(nd):
            if r.buf in ok and segment[nd.out] != segment[r.buf]:
                ok.discard(r.buf)
    return {buf[1] for buf in ok}


def shared_gradients(plan):
    """{("hx", k): ("mm", j)} for each hoisted product whose gradient is exactly a per-step product's:
    both reach the same node through single-use add/copy nodes (a = x W + h U + b, as in every gated
    cell), so the kernel writes gmm_j only and dW, dx of the hoisted product are taken from it."""
    uses = {}
    for node in plan.nodes:
        for i, r in enumerate(operand_refs(node)):
            uses.setdefault(r.buf, []).append((node, i, r))
    outputs = {r.buf for r in plan.outputs}
    width = {nd.out: nd.width for nd in plan.nodes}

    def root(buf):
        while buf not in outputs and len(uses.get(buf, [])) == 1:
            node, i, r = uses[buf][0]  # the whole buffer, not broadcast: its gradient is node's
            if (node.op not in ("add", "copy") or r.off != "0" or r.width != width[buf]
                    or (r.width == "1") != (node.width == "1")):
                break
            buf = node.out
        return buf

    roots = {root(("mm", j)): ("mm", j) for j in range(len(plan.steps))}
    return {("hx", k): roots[root(("hx", k))] for k in range(len(plan.hoisted)) if root(("hx", k)) in roots}


def states_in_place(plan):
    """{node n: state k} for the new states the forward computes straight into sv_k[s] (v_n is a
    view of it): a whole step value that is no other new state. The others are copied there."""
    width = {nd.out: nd.width for nd in plan.nodes}
    bufs = [r.buf for r in plan.outputs]
    return {r.buf[1]: k for k, r in enumerate(plan.outputs)
            if r.buf[0] == "v" and r.off == "0" and r.width == width[r.buf] and bufs.count(r.buf) == 1}


def aliased_gradients(plan, shared, local):
    """{("v", n): product buffer} for a value v_n = P + u (or a copy of P), as wide as P, that is the
    only use of a per-step or hoisted product P: v_n's gradient is P's, so the kernel accumulates it
    in P's gradient array (no array of its own, no copy into P's: an LSTM's gate pre-activations).
    Neither is a new state (its gradient's seed would share the array). The widths are compared by
    value, so this is part of the kernels' key (size_dependent)."""
    value = plan.value
    uses = {}
    for nd in plan.nodes:
        for r in operand_refs(nd):
            uses.setdefault(r.buf, []).append((nd, r))
    outputs = {r.buf for r in plan.outputs}
    aliases = {}
    for product in plan.nodes:
        if product.out[0] not in ("mm", "hx") or product.out in shared or len(uses.get(product.out, [])) != 1:
            continue
        node, r = uses[product.out][0]
        if (node.op in ("add", "copy") and r.off == "0" and r.width == product.width != "1"
                and value(node.width) == value(product.width)
                and outputs.isdisjoint((node.out, product.out)) and node.out[1] not in local
                and node.out not in aliases):
            aliases[node.out] = product.out
    return aliases


def size_dependent(plan):
    """What the generated source depends on beyond the plan's structure (which never holds the
    sizes' values): the tiled and the aliased gradients. Part of the kernels' key."""
    shared = shared_gradients(plan)
    local = local_nodes(plan, groups(plan, [], backward=True))  # the backward runs do not depend on what is saved
    return tiled_gradients(plan, shared), tuple(sorted(aliased_gradients(plan, shared, local).items()))


def tiled_gradients(plan, shared):
    """The step values' and products' gradient buffers whose contributions cover each column exactly
    once (an LSTM's four gate slices of its pre-activation, a GRU's three of its input product): the
    kernel assigns them, with no zeroing before or after. A hoisted product whose gradient is a
    per-step product's (``shared``, shared_gradients) is never written, so it is not one of them."""
    value = plan.value
    width = {nd.out: nd.width for nd in plan.nodes}
    spans = {}
    for buf, ref, loop_width in contributions(plan):
        if buf[0] in ("v", "hx", "mm") and buf not in shared:
            whole_rows = ref.width != "1" and value(loop_width) == value(ref.width)
            spans.setdefault(buf, []).append((value(ref.off), value(ref.width)) if whole_rows else None)
    tiled = set()
    for buf, parts in spans.items():
        if width[buf] == "1" or None in parts:
            continue
        end = 0
        for lo, w in sorted(parts):
            end = end + w if lo == end else -1
        if end == value(width[buf]):
            tiled.add(buf)
    return frozenset(tiled)


def contributions(plan):
    """(gradient buffer, operand Ref, width of the loop that adds) for every gradient contribution
    the backward writes: the new states' gradients arriving from the next step (and the output's),
    and what each node's vector-Jacobian rule adds to its operands."""
    out = [(r.buf, r, r.width) for r in plan.outputs]
    for nd in plan.nodes:
        if nd.op == "matmul":
            refs = [(nd.args[0], nd.args[0].width)] if nd.out[0] == "mm" else []
        elif nd.op == "cat":
            refs = [(r, r.width) for r in nd.args]
        elif nd.op == "sum":
            refs = [(nd.args[0], nd.args[0].width)]
        else:
            refs = [(nd.args[i], nd.width) for i in vjp_rules(nd)]
        out += [(r.buf, r, w) for r, w in refs]
    return out


def assigned_gradients(plan, shared):
    """The per-step product and state gradients (mm, hx, s) that get exactly one contribution,
    covering every column once: the kernel assigns them instead of zeroing each row first and adding
    to it (a state's, in dst_k, once the step has read the new state's gradient from there)."""
    width = {nd.out: nd.width for nd in plan.nodes} | plan.placeholder_widths
    seen = {}
    for buf, ref, loop_width in contributions(plan):
        if buf[0] in ("mm", "hx", "s") and buf not in shared:
            seen.setdefault(buf, []).append((ref, loop_width))
    whole = lambda ref, loop: ref.off == "0" and ref.width == width[ref.buf] and (ref.width != "1" or loop == "1")  # noqa: E731
    return {buf for buf, c in seen.items() if len(c) == 1 and whole(*c[0])}


def local_nodes(plan, runs):
    """Nodes whose every use is in their own loop at the column being computed: in the forward
    their values, in the backward their gradients, can be scalars instead of (B, w) arrays."""
    run_of = {nd.out: i for i, (kind, width, nodes) in enumerate(runs) if kind == "loop" and width != "1"
              for nd in nodes}
    width = {nd.out: nd.width for nd in plan.nodes}
    ok = {buf for buf in run_of if buf[0] == "v" and width[buf] == runs[run_of[buf]][1]}
    for i, (kind, _, nodes) in enumerate(runs):
        for nd in nodes:
            for r in operand_refs(nd):
                if r.buf in ok and (run_of[r.buf] != i or r.off != "0" or r.width != width[r.buf]):
                    ok.discard(r.buf)
    return {buf[1] for buf in ok}


def seeded_outputs(plan, runs, local, assigned):
    """{state k: node n} for the new states whose gradient can be a scalar of their own loop, seeded
    there (gl_n = dst_k + dos) instead of added into a (B, w) array by a loop of its own: node n is
    the whole output and no other new state (one seed each), its gradient is local, and the old
    state's one contribution (assigned in dst_k) is made in that loop, after the seed, or later."""
    run_of = {nd.out: i for i, (_, _, nodes) in enumerate(runs) for nd in nodes}
    width = {nd.out: nd.width for nd in plan.nodes}
    seeded = {}
    for k, ref in enumerate(plan.outputs):
        if (ref.buf[0] != "v" or ref.buf[1] not in local or ref.off != "0" or ref.width != width[ref.buf]
                or ("s", k) not in assigned or [r.buf for r in plan.outputs].count(ref.buf) > 1):
            continue
        readers = [nd for nd in plan.nodes if any(r.buf == ("s", k) for r in operand_refs(nd))]
        if all(run_of[nd.out] <= run_of[ref.buf] for nd in readers):
            seeded[k] = ref.buf[1]
    return seeded
