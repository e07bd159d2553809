"""The recurrent table: one row per built-in recurrent kind, shared by the recurrent tests (layers,
cells, kernels, PyTorch parity, errors, packing, curvature, seq2seq, ONNX export).

A row (Kind) names the kind, its gate count, our layer and cell classes with the keyword arguments
that select the kind, and its NumPy step: PyTorch's equations on gi = x W_ihᵀ + b_ih and
gh = h W_hhᵀ + b_hh (rows i|f|g|o for LSTM, r|z|n for GRU). Around the table:
  builders     float64 tensors (t64, th), layer configurations (cfg) and their random inputs;
  references   one direction over a padded batch and a whole layer, each sequence alone up to its own
               length (zeros past it), and one cell step;
  twins        the same module in the other impl, and its PyTorch twin holding our weights;
  cells        the shipped custom cells and the built-in cells with nn.Recurrent's protocol
               (state_size), and their random states, for the compiler and Recurrent tests;
  EDGES        the edge shapes the table-driven tests also run: B=1, H=1, T=1, I=1 and B=0 (an empty
               batch, defined for layers and cells as empty outputs with zero parameter gradients;
               the kernels themselves take B >= 1).
Adding a recurrent kind is one row here.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.nn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNCell


# ------------------------------------------------------------------------------------ NumPy steps

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def rnn_tanh_step(gi, gh, h, c):
    return np.tanh(gi + gh), None


def rnn_relu_step(gi, gh, h, c):
    return np.maximum(gi + gh, 0.0), None


def lstm_step(gi, gh, h, c):
    """c' = σ(f) c + σ(i) tanh(g);  h' = σ(o) tanh(c')."""
    i, f, g, o = np.split(gi + gh, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_step(gi, gh, h, c):
    """r, z = σ(x_r + h_r), σ(x_z + h_z);  n = tanh(x_n + r h_n);  h' = (1 - z) n + z h."""
    (x_r, x_z, x_n), (h_r, h_z, h_n) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, None


# ------------------------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Kind:
    name: str
    gates: int
    layer: type
    cell: type
    step: Callable  # (gi, gh, h, c) -> (h', c' or None)
    kwargs: dict = field(default_factory=dict)  # what selects the kind in the constructor

    @property
    def n_states(self):
        return 2 if self.layer is LSTM else 1

    def __repr__(self):
        return self.name


TABLE = {k.name: k for k in [
    Kind("rnn_tanh", 1, RNN, RNNCell, rnn_tanh_step, {"nonlinearity": "tanh"}),
    Kind("rnn_relu", 1, RNN, RNNCell, rnn_relu_step, {"nonlinearity": "relu"}),
    Kind("lstm", 4, LSTM, LSTMCell, lstm_step),
    Kind("gru", 3, GRU, GRUCell, gru_step),
]}
KINDS = list(TABLE)
IMPLS = ["fused", "unrolled"]
GATES = {k: row.gates for k, row in TABLE.items()}
LAYER_CLASSES = {row.layer.__name__: row.layer for row in TABLE.values()}  # RNN, LSTM, GRU
CELL_CLASSES = {row.cell.__name__: row.cell for row in TABLE.values()}


def n_states(kind):
    return TABLE[kind].n_states


def kind_of(module):
    """The table's kind of one of our layers or cells (or a PyTorch one)."""
    name = type(module).__name__.removesuffix("Cell")
    return f"rnn_{module.nonlinearity}" if name == "RNN" else name.lower()


def make_layer(kind, input_size, hidden_size, impl="fused", dtype=np.float64, **kwargs):
    """Our layer of this kind; dtype=None takes the default dtype."""
    return TABLE[kind].layer(input_size, hidden_size, impl=impl, dtype=dtype, **TABLE[kind].kwargs, **kwargs)


def make_cell(kind, input_size, hidden_size, bias=True, dtype=np.float64):
    return TABLE[kind].cell(input_size, hidden_size, bias=bias, dtype=dtype, **TABLE[kind].kwargs)


# ------------------------------------------------------------------------------------ states

def pack_hx(kind, states):
    """The hx argument for a list of state tensors (or arrays): None, h0, or (h0, c0) for LSTM."""
    if not states:
        return None
    return tuple(states) if kind == "lstm" else states[0]


def states_list(kind, hn):
    """[h_n] or [h_n, c_n] from what a layer or cell returns as its state (ours or PyTorch's)."""
    return list(hn) if kind == "lstm" else [hn]


def unpack(kind, result):
    """(output, [h_n] or [h_n, c_n]) from what one of our layers returns, checking its structure."""
    out, hn = result
    if kind == "lstm":
        assert isinstance(hn, tuple) and len(hn) == 2
    else:
        assert isinstance(hn, tg.Tensor)
    return out, states_list(kind, hn)


# ------------------------------------------------------------------------------------ cells for nn.Recurrent

SHIPPED_CELLS = {
    "layernorm_lstm": lambda I, H: tg.nn.LayerNormLSTMCell(I, H, dtype=np.float64),
    "peephole_lstm": lambda I, H: tg.nn.PeepholeLSTMCell(I, H, dtype=np.float64),
    "mgu": lambda I, H: tg.nn.MGUCell(I, H, dtype=np.float64),
    "indrnn": lambda I, H: tg.nn.IndRNNCell(I, H, dtype=np.float64),
}


class BuiltinCell(tg.nn.Module):
    """The float64 built-in cell of `kind` (nn.LSTMCell, GRUCell, RNNCell) with nn.Recurrent's
    protocol: state_size, and forward(x, state) -> new state."""

    def __init__(self, kind, I, H):
        super().__init__()
        self.inner = make_cell(kind, I, H)
        self.state_size = (H, H) if n_states(kind) == 2 else H

    def forward(self, x, state):
        return self.inner(x, state)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_state(cell, B, rng, requires_grad=False):
    """A random float64 state of the structure cell.state_size says (a Tensor or a tuple of them)."""
    states = tuple(t64(0.5 * rng.standard_normal((B, s)), requires_grad) for s in as_tuple(cell.state_size))
    return states if isinstance(cell.state_size, tuple) else states[0]


# ------------------------------------------------------------------------------------ float64 builders

def t64(a, requires_grad=False):
    """A float64 Tensor holding a copy of a."""
    return tg.tensor(np.array(a, dtype=np.float64), dtype=np.float64, requires_grad=requires_grad)


def th(a, requires_grad=False):
    """A float64 torch tensor holding a copy of a (callers have already imported torch or skipped)."""
    import torch
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def cfg(T=2, B=2, I=2, H=2, num_layers=1, bidirectional=False, batch_first=False, lengths=None, h0=True,
        bias=True):
    """A layer configuration; B=None means unbatched input (T, I)."""
    return dict(T=T, B=B, I=I, H=H, num_layers=num_layers, bidirectional=bidirectional,
                batch_first=batch_first, lengths=lengths, h0=h0, bias=bias)


def input_shape(c):
    if c["B"] is None:
        return (c["T"], c["I"])
    return (c["B"], c["T"], c["I"]) if c["batch_first"] else (c["T"], c["B"], c["I"])


def state_shape(c):
    L = c["num_layers"] * (2 if c["bidirectional"] else 1)
    return (L, c["H"]) if c["B"] is None else (L, c["B"], c["H"])


def layer_from_cfg(kind, impl, c, dtype=np.float64):
    return make_layer(kind, c["I"], c["H"], impl, dtype=dtype, num_layers=c["num_layers"],
                      bidirectional=c["bidirectional"], batch_first=c["batch_first"], bias=c["bias"])


def layer_arrays(kind, c, rng):
    """Random input x ~ N(0, 1) and, if c["h0"], initial states ~ N(0, 0.25) as float64 arrays."""
    x = rng.standard_normal(input_shape(c))
    states = [0.5 * rng.standard_normal(state_shape(c)) for _ in range(n_states(kind))] if c["h0"] else []
    return x, states


def build(kind, impl, c, seed=0):
    """(module, x, [h0, c0] leaf tensors (maybe empty), lengths) for configuration c, all float64."""
    tg.manual_seed(seed)
    m = layer_from_cfg(kind, impl, c)
    x, states = layer_arrays(kind, c, np.random.default_rng(seed + 1))
    return m, t64(x, True), [t64(s, True) for s in states], c["lengths"]


def cell_arrays(kind, B, I, H, rng, with_hx=True):
    """Random x (B, I) (or (I,) for B=None) and, if with_hx, states (B, H) ~ N(0, 1), float64 arrays."""
    lead = () if B is None else (B,)
    x = rng.standard_normal(lead + (I,))
    states = [rng.standard_normal(lead + (H,)) for _ in range(n_states(kind))] if with_hx else []
    return x, states


def to_time_major(c, a):
    """An input or output array in (T, B, ...) layout, whatever the configuration's layout."""
    if c["B"] is None:
        return a[:, None]
    return np.swapaxes(a, 0, 1) if c["batch_first"] else a


# ------------------------------------------------------------------------------------ edge shapes

EDGES = {"B1": dict(B=1), "H1": dict(H=1), "T1": dict(T=1), "I1": dict(I=1), "B0": dict(B=0)}


def at_edge(c, edge):
    """Batched configuration c with one size at its edge; lengths, if any, cut to B and clipped to T."""
    c = {**c, **EDGES[edge]}
    if c["lengths"] is not None:
        lengths = [min(n, c["T"]) for n in c["lengths"]][:c["B"]]
        c["lengths"] = np.array(lengths, dtype=np.int64)
    return c


def edge_cases(c, prefix="", edges=tuple(EDGES)):
    """{name: configuration} of c at each of the edges."""
    return {prefix + edge: at_edge(c, edge) for edge in edges}


NONEMPTY_EDGES = tuple(e for e in EDGES if e != "B0")  # where B=0 is undefined (kernels, PyTorch's packing)


# ------------------------------------------------------------------------------------ NumPy references

def ref_step(kind, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of PyTorch's equations on arrays: x (..., I), h and c (..., H) -> (h', c' or None)."""
    gi, gh = x @ w_ih.T, h @ w_hh.T
    if b_ih is not None:
        gi, gh = gi + b_ih, gh + b_hh
    return TABLE[kind].step(gi, gh, h, c)


def ref_direction(kind, x, w_ih, w_hh, b_ih, b_hh, h0, c0=None, lengths=None, reverse=False):
    """One direction over a padded batch x (T, B, I), each sequence alone up to its own length (reverse:
    from its own end), in float64: (out (T, B, H) with zeros past each length, h_n, c_n or None)."""
    x, w_ih, w_hh, h0 = (np.asarray(a, np.float64) for a in (x, w_ih, w_hh, h0))
    c0 = np.zeros_like(h0) if c0 is None else np.asarray(c0, np.float64)
    b_ih, b_hh = (None if b is None else np.asarray(b, np.float64) for b in (b_ih, b_hh))
    T, B, _ = x.shape
    out, h_n, c_n = np.zeros((T, B, h0.shape[-1])), h0.copy(), c0.copy()
    for b in range(B):
        n = T if lengths is None else int(lengths[b])
        h, c = h0[b], c0[b]
        for t in (reversed(range(n)) if reverse else range(n)):
            h, c = ref_step(kind, x[t, b], h, c, w_ih, w_hh, b_ih, b_hh)
            out[t, b] = h
        h_n[b], c_n[b] = h, c
    return out, h_n, (c_n if kind == "lstm" else None)


def ref_layer(kind, m, x, states, lengths):
    """Our layer m's computation on arrays: x (T, B, I), states [h0, c0] arrays (L*D, B, H) or [] for
    zeros. Returns [output (T, B, D*H) with zeros past each length, h_n] (+ [c_n] for LSTM)."""
    T, B, _ = x.shape
    H, D = m.hidden_size, m.num_directions
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    h_n, c_n = [], []
    layer_in = x
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            k, sfx = layer * D + d, f"_l{layer}" + ("_reverse" if d else "")
            biases = (sd["bias_ih" + sfx], sd["bias_hh" + sfx]) if m.bias else (None, None)
            h0 = states[0][k] if states else np.zeros((B, H))
            c0 = states[1][k] if len(states) > 1 else None
            out, h, c = ref_direction(kind, layer_in, sd["weight_ih" + sfx], sd["weight_hh" + sfx], *biases,
                                      h0, c0, lengths, reverse=bool(d))
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_in = np.concatenate(outs, axis=-1)
    return [layer_in, np.stack(h_n)] + ([np.stack(c_n)] if kind == "lstm" else [])


def ref_cell(kind, cell, x, hx=None):
    """Our cell's computation on arrays: x (B, I) or (I,), hx None (zeros), h, or (h, c) for LSTM.
    Returns (h',) or (h', c')."""
    p = {k: v.detach().numpy() for k, v in cell.state_dict().items()}
    zeros = np.zeros(x.shape[:-1] + (cell.hidden_size,))
    h, c = (zeros, zeros) if hx is None else (hx if kind == "lstm" else (hx, zeros))
    h, c = ref_step(kind, x, h, c, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    return (h, c) if kind == "lstm" else (h,)


# ------------------------------------------------------------------------------------ twins

def twin(m, impl):
    """Our layer of m's architecture and weights in the given impl (dropout 0)."""
    other = make_layer(kind_of(m), m.input_size, m.hidden_size, impl, dtype=next(m.parameters()).dtype,
                       num_layers=m.num_layers, bidirectional=m.bidirectional, batch_first=m.batch_first,
                       bias=m.bias, **({"proj_size": m.proj_size} if m.proj_size else {}))
    other.load_state_dict(m.state_dict())
    return other


def load_into_torch(ours, theirs):
    """Copy our state dict into the torch module; strict loading also proves the names agree, and the
    values are checked to be identical afterwards."""
    import torch
    sd = {k: torch.from_numpy(v.detach().numpy().copy()) for k, v in ours.state_dict().items()}
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict(sd, strict=True)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k].detach().numpy())


def torch_module(kind, input_size, hidden_size, **kwargs):
    """PyTorch's layer of this kind (its cell with cell=True), float32 like PyTorch's default."""
    import torch
    cell = kwargs.pop("cell", False)
    row = TABLE[kind]
    cls = getattr(torch.nn, (row.cell if cell else row.layer).__name__)
    return cls(input_size, hidden_size, **row.kwargs, **kwargs)


def torch_twin(m):
    """PyTorch's module of our layer's or cell's architecture and dtype, holding its weights."""
    import torch
    kw = dict(bias=m.bias)
    is_cell = not hasattr(m, "num_layers")
    if not is_cell:
        kw.update(num_layers=m.num_layers, batch_first=m.batch_first, dropout=m.dropout,
                  bidirectional=m.bidirectional, **({"proj_size": m.proj_size} if m.proj_size else {}))
    theirs = torch_module(kind_of(m), m.input_size, m.hidden_size, cell=is_cell, **kw)
    theirs.to(torch.from_numpy(np.zeros(0, next(m.parameters()).dtype)).dtype)
    load_into_torch(m, theirs)
    return theirs


# ------------------------------------------------------------------------------------ broken gradients

def break_compiled_gradient(monkeypatch, which, factor):
    """Make every compiled sequence (the built-in layers' and nn.Recurrent's) return its gradient of
    `which` times factor, so that a test can show a check catches a wrong gradient: "x", "h0", "w_hh"
    (the matrices of the per-step products) or "bias" (the vectors the step reads)."""
    from tinygrad_rnn.compiler import sequence
    original = sequence.CompiledSequence.backward

    def wrong(ctx, *grads):
        out = list(original(ctx, *grads))
        plan = ctx.inputs[-4]
        first = 1 + len(plan.state_sizes)  # frontier tensors follow x and the initial states
        positions = {"x": [0], "h0": [1], "w_hh": [first + plan.mats[m][0] for m in plan.steps],
                     "bias": [first + i for i, is_condition in plan.vecs if not is_condition]}[which]
        for i in positions:
            out[i] = out[i] * factor
        return tuple(out)
    monkeypatch.setattr(sequence.CompiledSequence, "backward", staticmethod(wrong))
