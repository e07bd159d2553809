"""Drawing the graph behind a tensor: the graph that backward() walks, unrolled time steps included.

`draw_graph(tensor)` draws ops (boxes, the Function's name) and tensors (ellipses with their shapes;
parameters under their names), and groups the nodes of each time step of a recurrence in a frame,
so BPTT's T copies of one step are visible; `collapse_steps=True` draws each step as one box.
It returns a `graphviz.Digraph` when the graphviz package is installed, else the DOT text.

Time steps are found in the graph itself, with no help from the code that built it: a recurrent
weight is a (2-D) parameter whose uses are chained, one feeding the next; a node belongs to step k of
the recurrence whose use is nearest upstream, k counting that weight's uses on the way (step k of a
layer's W_hh is its k-th application). Nodes that only feed one step (its input slice, the weight's
transpose) join that step; a cat/stack gathering several steps, and what follows it, stays outside.
"""
from .nn.module import Module, Parameter
from .tensor import Tensor


def _param_names(params):
    """id(tensor) -> name from a Module, a dict {name: tensor} or pairs (name, tensor)."""
    if params is None:
        return {}
    items = params.named_parameters() if isinstance(params, Module) else \
        params.items() if isinstance(params, dict) else params
    return {id(t): name for name, t in items}


def _walk(root):
    """Graph nodes (ctx) reachable from root, inputs before consumers, without recursion."""
    order, seen, stack = [], set(), [(root._ctx, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((t._ctx, False) for t in node.inputs if isinstance(t, Tensor) and t._ctx is not None)
    return order


def _tensor_key(t):
    return f"t{id(t._ctx)}_{t._index}" if t._ctx is not None else f"leaf{id(t)}"


def _weight_uses(order, is_param):
    """Per node: the 2-D parameters it uses (takes directly or through parameter-only ops such as a
    transpose, together with data), and {param id: its uses on the longest path up to the node}."""
    derived, uses, counts = {}, {}, {}
    for node in order:
        tensors = [t for t in node.inputs if isinstance(t, Tensor)]
        from_params = [t for t in tensors if (t._ctx is None and is_param(t)) or
                       (t._ctx is not None and id(t._ctx) in derived)]
        sources = set()
        for t in from_params:
            sources |= {id(t)} if t._ctx is None and t.ndim == 2 else derived.get(id(t._ctx), set())
        count = {}
        for t in tensors:
            for p, c in (counts[id(t._ctx)].items() if t._ctx is not None else ()):
                count[p] = max(count.get(p, 0), c)
        if tensors and len(from_params) == len(tensors):
            derived[id(node)] = sources
            sources = set()
        for p in sources:
            count[p] = count.get(p, 0) + 1
        uses[id(node)], counts[id(node)] = sources, count
    return uses, counts


def _steps(order, is_param):
    """id(node) -> (recurrent weight id, step) for the nodes inside a time step; others absent."""
    uses, counts = _weight_uses(order, is_param)
    recurrent = {p for c in counts.values() for p, k in c.items() if k >= 2}
    label, dist = {}, {}
    for node in order:
        count, used = counts[id(node)], sorted(uses[id(node)] & recurrent)
        if used:
            owner, d = used[0], 0  # a use of a recurrent weight: the step is where it is applied
        else:
            near = [(dist[id(t._ctx)] + 1, label[id(t._ctx)][0]) for t in node.inputs
                    if isinstance(t, Tensor) and t._ctx is not None and id(t._ctx) in label]
            if not near:
                continue
            d, owner = min(near, key=lambda n: (n[0], -count.get(n[1], 0)))
            gathered = {label[id(t._ctx)] for t in node.inputs if isinstance(t, Tensor) and t._ctx is not None
                        and label.get(id(t._ctx), (None,))[0] == owner}
            if node.fn.__name__ in ("Cat", "Stack") and len(gathered) > 1:
                continue  # gathers several steps: the layer's output, after the loop
        label[id(node)], dist[id(node)] = (owner, count.get(owner, 0)), d
    return label


def _pull_into_steps(order, steps, leaves):
    """Nodes and non-parameter leaves outside every step whose consumers all sit in one step join it."""
    consumers = {}
    for node in order:
        for t in node.inputs:
            if isinstance(t, Tensor):
                consumers.setdefault(id(t._ctx) if t._ctx is not None else _tensor_key(t), []).append(id(node))
    for key in [id(n) for n in reversed(order)] + list(leaves):
        if key in steps or key not in consumers:
            continue
        where = {steps.get(c) for c in consumers[key]}
        if len(where) == 1 and None not in where:
            steps[key] = where.pop()
    return steps


def _describe(root, collapse_steps, names):
    """(nodes {key: (kind, label, cluster)}, edges [(a, b)], clusters {cluster: title}) of the graph."""
    order = _walk(root)

    def is_param(t):
        return id(t) in names or isinstance(t, Parameter)

    leaves = {}
    for node in order:
        for t in node.inputs:
            if isinstance(t, Tensor) and t._ctx is None and not is_param(t):
                leaves[_tensor_key(t)] = t
    steps = _pull_into_steps(order, _steps(order, is_param), leaves)
    owners = sorted({p for p, _ in steps.values()}, key=lambda p: names.get(p, ""))
    clusters = {}
    for p, k in sorted(set(steps.values()), key=lambda s: (owners.index(s[0]), s[1])):
        owner = names.get(p, f"recurrence {owners.index(p) + 1}")
        clusters[(p, k)] = f"{owner} step {k}" if len(owners) > 1 else f"step {k}"
    nodes, edges = {}, []

    def tensor_node(t, cluster):
        key = _tensor_key(t)
        if key not in nodes:
            name = names.get(id(t)) or ("Parameter" if isinstance(t, Parameter) else None)
            kind = name or ("input" if t.requires_grad else "constant") if t._ctx is None else ""
            nodes[key] = ("tensor", f"{kind} {tuple(t.shape)}".strip(), cluster)
            if t._ctx is not None:
                edges.append((f"op{id(t._ctx)}", key))
        return key

    for node in order:
        cluster = steps.get(id(node))
        op = f"op{id(node)}"
        nodes[op] = ("op", node.fn.__name__, cluster)
        for t in node.inputs:
            if isinstance(t, Tensor):
                home = steps.get(id(t._ctx)) if t._ctx is not None else steps.get(_tensor_key(t))
                edges.append((tensor_node(t, home), op))
    tensor_node(root, steps.get(id(root._ctx)) if root._ctx is not None else None)
    if collapse_steps:
        nodes, edges = _collapse(nodes, edges, clusters)
    return nodes, edges, clusters


def _collapse(nodes, edges, clusters):
    """Each step's nodes replaced by one box; edges between boxes and the rest, once each."""
    box = {c: f"step{n}" for n, c in enumerate(clusters)}
    out = {k: v for k, v in nodes.items() if v[2] is None}
    for c, key in box.items():
        n_ops = sum(1 for kind, _, cl in nodes.values() if cl == c and kind == "op")
        out[key] = ("step", f"{clusters[c]}\\n{n_ops} ops", None)
    remap = {k: box[v[2]] if v[2] is not None else k for k, v in nodes.items()}
    seen, result = set(), []
    for a, b in edges:
        e = (remap[a], remap[b])
        if e[0] != e[1] and e not in seen:
            seen.add(e)
            result.append(e)
    return out, result


STYLE = {"op": dict(shape="box", style="rounded,filled", fillcolor="#dde8f7"),
         "tensor": dict(shape="ellipse"), "step": dict(shape="box3d", style="filled", fillcolor="#f7ecd9")}


def _dot_attrs(attrs):
    return ", ".join(f'{k}="{v}"' for k, v in attrs.items())


def _to_dot(nodes, edges, clusters):
    lines = ["digraph graph_of_tensor {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    groups = {}
    for key, (kind, label, cluster) in nodes.items():
        groups.setdefault(cluster, []).append(f'  {key} [{_dot_attrs(dict(label=label, **STYLE[kind]))}];')
    lines += groups.pop(None, [])
    for n, (cluster, body) in enumerate(groups.items()):
        lines += [f"  subgraph cluster_{n} {{", f'    label="{clusters[cluster]}"; style=dashed;']
        lines += ["  " + line for line in body] + ["  }"]
    lines += [f"  {a} -> {b};" for a, b in edges]
    return "\n".join(lines + ["}"])


def _to_digraph(graphviz, nodes, edges, clusters):
    dot = graphviz.Digraph("graph_of_tensor", graph_attr=dict(rankdir="TB"),
                           node_attr=dict(fontname="Helvetica", fontsize="10"))
    groups = {}
    for key, (kind, label, cluster) in nodes.items():
        groups.setdefault(cluster, []).append((key, label, kind))
    for key, label, kind in groups.pop(None, []):
        dot.node(key, label, **STYLE[kind])
    for n, (cluster, members) in enumerate(groups.items()):
        with dot.subgraph(name=f"cluster_{n}") as sub:
            sub.attr(label=clusters[cluster], style="dashed")
            for key, label, kind in members:
                sub.node(key, label, **STYLE[kind])
    for a, b in edges:
        dot.edge(a, b)
    return dot


def draw_graph(tensor, collapse_steps=False, params=None):
    """The graph behind `tensor` as a graphviz.Digraph (when graphviz is installed) or DOT text.

    params: a Module (its named_parameters label the weights) or {name: tensor}; without it,
    Parameters are labelled "Parameter". collapse_steps=True draws each time step as one box."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    nodes, edges, clusters = _describe(tensor, collapse_steps, _param_names(params))
    try:
        import graphviz
    except ImportError:
        return _to_dot(nodes, edges, clusters)
    return _to_digraph(graphviz, nodes, edges, clusters)
