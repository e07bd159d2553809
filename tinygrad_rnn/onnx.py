"""ONNX export: a model as a standard ONNX graph (opset 17), for ONNX Runtime and other engines.

`export(model, example_input, path)` writes the model's inference graph (eval mode: dropout is the
identity) built from standard operators only: the ONNX `RNN`/`LSTM`/`GRU` ops (one per layer, both
directions in one node; gates reordered from PyTorch's i|f|g|o to ONNX's i|o|f|c and r|z|n to z|r|h,
GRU with linear_before_reset=1, which is PyTorch's candidate gate), `Gemm`/`MatMul`+`Add` for Linear,
`Gather` for embeddings, `LayerNormalization`, activations and `Softmax`/`LogSoftmax`. Time and batch
axes are dynamic (named "time" and "batch"). Exports Linear, Embedding, LayerNorm, Dropout, the
activations, Sequential chains of those, RNN/LSTM/GRU (with optional initial states and lengths) and
language models registered with `register_language_model` (the apps' character language model is
one); anything else raises a TypeError naming it.
Needs the `onnx` package (the `onnx` extra); imported inside `export`, so inside this file every
import of it is absolute.
"""
import numpy as np

from . import nn
from .autograd import no_grad
from .nn import GRU, LSTM, RNN, Dropout, Embedding, LayerNorm, Linear, Sequential
from .tensor import Tensor

OPSET = 17
RECURRENT = (RNN, LSTM, GRU)
GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}  # ONNX gate k = PyTorch gate ORDER[k]
ELEMENTWISE = {"Tanh": "Tanh", "Sigmoid": "Sigmoid", "ReLU": "Relu", "Identity": "Identity"}
SOFTMAX = {"Softmax": "Softmax", "LogSoftmax": "LogSoftmax"}
LANGUAGE_MODELS = set()


def register_language_model(cls):
    """Let `export` write models of class `cls`: ids (T, B) -> embedding (`embed`, an nn.Embedding, or
    None for one-hot vectors of `vocab_size`) -> `rnn` (an RNN/LSTM/GRU) -> `head` (an nn.Linear),
    returning (logits (T, B, vocab), state) as CharLM does."""
    LANGUAGE_MODELS.add(cls)


class _Graph:
    """Nodes, initializers and graph inputs under unique names, with each value's rank."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.initializers, self.inputs, self.rank, self.used = onnx, [], [], [], {}, set()
        self.dtype = None  # the float dtype of the graph's input

    def name(self, hint):
        name, k = hint, 1
        while name in self.used:
            name, k = f"{hint}_{k}", k + 1
        self.used.add(name)
        return name

    def const(self, array, hint):
        name = self.name(hint)
        if self.dtype is None and np.asarray(array).dtype.kind == "f":
            self.dtype = np.asarray(array).dtype
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        self.rank[name] = np.ndim(array)
        return name

    def input(self, name, array, dims):
        if array.dtype.kind == "f":
            self.dtype = array.dtype
        elem, name = self.onnx.helper.np_dtype_to_tensor_dtype(array.dtype), self.name(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, dims))
        self.rank[name] = len(dims)
        return name

    def op(self, op_type, inputs, rank, outputs=1, **attrs):
        """Append one node; returns its output name (or the list of them when outputs > 1)."""
        names = [self.name(f"{op_type.lower()}{len(self.nodes)}_{k}") for k in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, name=f"{op_type}_{len(self.nodes)}",
                                                     **attrs))
        for n, r in zip(names, rank if isinstance(rank, (list, tuple)) else [rank] * outputs):
            self.rank[n] = r
        return names[0] if outputs == 1 else names


def _array(p):
    return p.detach().numpy()


def _linear(g, m, x):
    w = _array(m.weight)
    if g.rank[x] == 2:
        inputs = [x, g.const(w, "weight")] + ([g.const(_array(m.bias), "bias")] if m.bias is not None else [])
        return g.op("Gemm", inputs, 2, transB=1)
    y = g.op("MatMul", [x, g.const(np.ascontiguousarray(w.T), "weight_t")], g.rank[x])
    return y if m.bias is None else g.op("Add", [y, g.const(_array(m.bias), "bias")], g.rank[x])


def _layer_norm(g, m, x):
    n = len(m.normalized_shape)
    weight = _array(m.weight) if m.weight is not None else np.ones(m.normalized_shape, dtype=g.dtype)
    inputs = [x, g.const(weight, "ln_scale")] + ([g.const(_array(m.bias), "ln_bias")] if m.bias is not None else [])
    return g.op("LayerNormalization", inputs, g.rank[x], axis=-n, epsilon=float(m.eps))


def _single(g, m, x, path):
    """A module of one input and one output (the pieces of a Sequential)."""
    kind = type(m).__name__
    if type(m) is Sequential:
        for key, child in m.named_children():
            x = _single(g, child, x, f"{path}.{key}" if path else key)
        return x
    if type(m) is Linear:
        return _linear(g, m, x)
    if type(m) is Embedding:
        return g.op("Gather", [g.const(_array(m.weight), "embedding"), x], g.rank[x] + 1, axis=0)
    if type(m) is LayerNorm:
        return _layer_norm(g, m, x)
    if type(m) is Dropout:
        return g.op("Identity", [x], g.rank[x])
    if kind in ELEMENTWISE and _ours(m):
        return g.op(ELEMENTWISE[kind], [x], g.rank[x])
    if kind in SOFTMAX and _ours(m):
        if getattr(m, "dim", None) is None:
            raise ValueError(f"onnx.export: {_where(path)} ({kind}) needs an explicit dim")
        return g.op(SOFTMAX[kind], [x], g.rank[x], axis=int(m.dim))
    raise TypeError(f"onnx.export: {_where(path)} is a {type(m).__module__}.{type(m).__qualname__}, which has no "
                    "ONNX export here (supported: Linear, Embedding, LayerNorm, Dropout, Tanh, Sigmoid, ReLU, "
                    "Identity, Softmax, LogSoftmax, Sequential of those, RNN, LSTM, GRU, registered language models)")


def _ours(m):
    return getattr(nn, type(m).__name__, None) is type(m)


def _where(path):
    return f"module {path!r}" if path else "the model"


def _recurrent(g, m, x, states, lengths, path):
    """x (T, B, I) time-major -> output (T, B, D*H) and final states (L*D, B, H): one ONNX node a layer."""
    if getattr(m, "proj_size", 0):
        raise TypeError(f"onnx.export: {_where(path)} is an LSTM with proj_size, which the ONNX LSTM op lacks")
    mode, H = type(m).__name__, m.hidden_size
    suffixes = ["", "_reverse"] if m.bidirectional else [""]
    order = GATE_ORDER[mode]

    def gates(name):
        a = _array(getattr(m, name))
        return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)

    def stacked(kinds, layer):
        return np.stack([np.concatenate([gates(f"{k}_l{layer}{s}") for k in kinds]) for s in suffixes])

    finals = [[] for _ in range(2 if mode == "LSTM" else 1)]
    for layer in range(m.num_layers):
        inputs = [x, g.const(stacked(["weight_ih"], layer), f"W_l{layer}"),
                  g.const(stacked(["weight_hh"], layer), f"R_l{layer}"),
                  g.const(stacked(["bias_ih", "bias_hh"], layer), f"B_l{layer}") if m.bias else "",
                  lengths or ""]  # sequence_lens: without it every sequence runs the whole time axis
        D = len(suffixes)
        for s in states:
            bounds = [g.const(np.array([v], dtype=np.int64), "bound") for v in (layer * D, (layer + 1) * D)]
            inputs.append(g.op("Slice", [s, *bounds, g.const(np.array([0], dtype=np.int64), "axis0")], 3))
        attrs = dict(hidden_size=H, direction="bidirectional" if D == 2 else "forward")
        if mode == "RNN":
            attrs["activations"] = [m.nonlinearity.capitalize()] * D
        if mode == "GRU":
            attrs["linear_before_reset"] = 1
        y, *ends = g.op(mode, inputs, [4] + [3] * len(finals), 1 + len(finals), **attrs)
        for f, e in zip(finals, ends):
            f.append(e)
        y = g.op("Transpose", [y], 4, perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
        x = g.op("Reshape", [y, g.const(np.array([0, 0, -1], dtype=np.int64), "shape_tb_")], 3)
    return x, [f[0] if len(f) == 1 else g.op("Concat", f, 3, axis=0) for f in finals]


def _flat_inputs(example_input):
    """(input, [state tensors], lengths or None) from example_input: x, or (x, hx[, lengths])."""
    args = list(example_input) if isinstance(example_input, (tuple, list)) else [example_input]
    if len(args) > 3:
        raise ValueError(f"onnx.export: example_input is x or (x, hx) or (x, hx, lengths), got {len(args)} items")
    hx = args[1] if len(args) > 1 else None
    states = [] if hx is None else list(hx) if isinstance(hx, (tuple, list)) else [hx]
    return args[0], states, args[2] if len(args) > 2 else None


def _as_array(value, what):
    if isinstance(value, Tensor):
        return value.detach().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"onnx.export: expected {what} to be a Tensor or a NumPy array, got {type(value).__name__}")


def _leading(n):
    """Names of n dynamic leading axes: (batch), (time, batch), or dim0, dim1, ..."""
    return {0: [], 1: ["batch"], 2: ["time", "batch"]}.get(n, [f"dim{k}" for k in range(n)])


def _build(g, model, example_input):
    """Declare the graph inputs and emit the model: [(graph value, output name, dims, reference)]."""
    x, states, lengths = _flat_inputs(example_input)
    x, states = _as_array(x, "example_input"), [_as_array(s, "the initial state") for s in states]
    if type(model) in RECURRENT or type(model) in LANGUAGE_MODELS:
        return _build_recurrent(g, model, x, states, lengths)
    if states or lengths is not None:
        raise ValueError("onnx.export: only recurrent layers and language models take initial states or lengths")
    ref = _reference(model, x, [], None)[0]
    n = x.ndim if x.dtype.kind in "iu" else x.ndim - 1  # ids: every axis dynamic; features: all but the last
    lead = _leading(n)
    out = _single(g, model, g.input("input", x, lead + list(x.shape[n:])), "")
    dims = lead + list(ref.shape[n:]) if ref.ndim >= n and ref.shape[:n] == x.shape[:n] else None
    return [(out, "output", dims, ref)]


def _build_recurrent(g, model, x, states, lengths):
    """An RNN/LSTM/GRU (input (T, B, I) or batch-first) or a language model (ids (T, B)), optional
    states/lengths."""
    charlm = type(model) in LANGUAGE_MODELS
    rnn = model.rnn if charlm else model
    if type(rnn) not in RECURRENT:
        raise TypeError(f"onnx.export: module 'rnn' is a {type(rnn).__qualname__}, which has no ONNX export here")
    D, n_states = 1 + bool(rnn.bidirectional), 2 if type(rnn) is LSTM else 1
    if states and len(states) != n_states:
        raise ValueError(f"onnx.export: {type(rnn).__name__} takes {n_states} initial state tensor(s), "
                         f"got {len(states)}")
    if charlm and lengths is not None:
        raise ValueError(f"onnx.export: {type(model).__name__} takes no lengths")
    if charlm and (x.ndim != 2 or x.dtype.kind not in "iu"):
        raise ValueError(f"onnx.export: {type(model).__name__} expects example_input of integer ids (T, B), got {x.dtype} "
                         f"of shape {x.shape}")
    if not charlm and x.ndim != 3:
        raise ValueError(f"onnx.export: {type(rnn).__name__} export needs batched input (3 dims), got shape {x.shape}")
    refs = _reference(model, x, states, lengths)
    if charlm:
        table = _array(model.embed.weight) if model.embed is not None else \
            np.eye(model.vocab_size, dtype=_array(model.head.weight).dtype)
        time_batch = ["time", "batch"]
        h = g.op("Gather", [g.const(table, "embedding"), g.input("ids", x.astype(np.int64), time_batch)], 3, axis=0)
    else:
        time_batch = ["batch", "time"] if rnn.batch_first else ["time", "batch"]
        h = g.input("input", x, time_batch + [x.shape[2]])
        h = g.op("Transpose", [h], 3, perm=[1, 0, 2]) if rnn.batch_first else h
    state_inputs = [g.input(n, s, [s.shape[0], "batch", s.shape[2]]) for n, s in zip(["h0", "c0"], states)]
    lens = None if lengths is None else g.input("lengths", np.asarray(_ints(lengths), dtype=np.int32), ["batch"])
    out, finals = _recurrent(g, rnn, h, state_inputs, lens, "rnn" if charlm else "")
    if charlm:
        out, name = _linear(g, model.head, out), "logits"
    else:
        out, name = g.op("Transpose", [out], 3, perm=[1, 0, 2]) if rnn.batch_first else out, "output"
    dims = [time_batch + [refs[0].shape[2]]] + [[rnn.num_layers * D, "batch", rnn.hidden_size]] * len(finals)
    return list(zip([out] + finals, [name, "h_n", "c_n"], dims, refs))


def _ints(lengths):
    return lengths.detach().numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)


def export(model, example_input, path=None, metadata=None):
    """Write `model` (its inference graph) as an ONNX file at `path` (opset 17) and return the
    ModelProto. example_input: the input (a Tensor or array: floats, or int ids for embeddings and
    language models), or a tuple (input, h0) / (input, (h0, c0)) to give the graph initial-state inputs, or
    (input, hx or None, lengths) for a recurrent layer's per-sequence lengths (an int32 "lengths" input,
    ONNX's sequence_lens). The model is run once on it (eval mode) to fix output shapes; the file
    passes onnx.checker.
    metadata: optional {str: str} stored in the file's metadata_props (e.g. a vocabulary).
    onnxruntime's CPU RNN/LSTM/GRU kernels take float32 only: export float64 models after .float()."""
    import onnx

    if not isinstance(model, nn.Module):
        raise TypeError(f"onnx.export: expected a tinygrad_rnn.nn.Module, got {type(model).__name__}")
    g = _Graph(onnx)
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            outputs = _build(g, model, example_input)
    finally:
        model.train(was_training)
    value_infos = []
    for value, name, dims, ref in outputs:
        g.nodes.append(onnx.helper.make_node("Identity", [value], [name], name=f"output_{name}"))
        value_infos.append(onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(ref.dtype),
                                                              dims))
    graph = onnx.helper.make_graph(g.nodes, type(model).__name__, g.inputs, value_infos, g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="tinygrad_rnn")
    onnx.helper.set_model_props(proto, {str(k): str(v) for k, v in (metadata or {}).items()})
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, path)
    return proto


def _reference(model, x, states, lengths):
    """Our forward's outputs as arrays, flattened like the graph's outputs."""
    args = [x if x.dtype.kind in "iu" else Tensor(x)]
    if states or lengths is not None:
        state = tuple(map(Tensor, states)) if len(states) == 2 else Tensor(states[0]) if states else None
        args.append(state)
    out = model(*args) if lengths is None else model(*args, lengths=_ints(lengths))
    flat = []
    for o in (out if isinstance(out, tuple) else (out,)):
        flat.extend(o if isinstance(o, tuple) else [o])
    return [o.detach().numpy() for o in flat]
