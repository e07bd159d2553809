"""Multi-layer, optionally bidirectional RNN, LSTM and GRU layers with PyTorch's semantics.

impl="fused" (default) runs each layer and direction as one call of numba kernels (forward and BPTT)
that tinygrad_rnn.compiler generates from the layer's own step, as for any nn.Recurrent cell;
impl="unrolled" builds one small graph per time step from the same step functions, so BPTT is just
backward() over that graph and second derivatives work. The two agree to rounding.

Variable lengths: positions past a sequence's length output zeros and get no gradient; h_n is each
sequence's state at its own last step; the reverse direction starts at each sequence's own end.

Edges, the same for both impls and as PyTorch: an empty batch (B = 0) gives empty outputs and
states; an empty sequence (T = 0) is a ValueError; dtypes other than float32/float64 are refused
(TypeError) when the layer is built (Module.to refuses them too).
"""
import warnings

import numpy as np

from .. import compiler, ops
from ..ops.linalg import linear
from ..tensor import ShapeError, Tensor, check_device, get_default_dtype
from . import init
from .cells import check_input, check_sizes, gru_step, lstm_step, make_weights, rnn_step
from .module import Module
from .utils.rnn import PackedSequence, forward_packed


def _reverse_index(T, B, lengths):
    """perm[t, b] = lengths[b] - 1 - t for t < lengths[b], else t: reverses each sequence in place."""
    t = np.arange(T)[:, None]
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def check_lengths(name, lengths, T, B, batched):
    """lengths (list/tuple/array/Tensor of B ints in [1, T]) as int64, or None; errors name `name`."""
    if lengths is None:
        return None
    if not batched:
        raise ValueError(f"{name}: lengths needs batched input (T, B, I), got unbatched input")
    arr = lengths.detach().numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.dtype.kind not in "iu" and arr.size:  # an empty list reads as float64: no element is one
        raise TypeError(f"{name}: lengths must be integers, got {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"{name}: expected lengths of shape ({B},), one per sequence, got {arr.shape}")
    if B and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"{name}: lengths must be in [1, {T}] (the sequence length), got {arr.tolist()}")
    return arr.astype(np.int64)


def unrolled_sequence(step, x, states, lengths, reverse, project=None):
    """The Python loop over time steps: (output (T, B, H_0), final states) from graph ops.

    step(x_t, states) -> new states (a tuple); project, if given, maps the whole (T, B, I) input once
    before the loop (the hoisted input product). Padding is zeroed before that, so that even inf or
    NaN padding reaches neither outputs nor any gradient.
    """
    T, B = x.shape[0], x.shape[1]
    if reverse:
        key = slice(None, None, -1) if lengths is None else (_reverse_index(T, B, lengths), np.arange(B))
        x = x[key]
    active = None if lengths is None else np.arange(T)[:, None, None] < lengths[None, :, None]
    if active is not None and not active.all():
        x = ops.where(active, x, 0.0)
    if project is not None:
        x = project(x)
    outs = []
    for x_t in ops.unbind(x, 0):  # one node: indexing x[t] T times costs O(T²)
        new = step(x_t, states)
        t = len(outs)
        if active is None or active[t].all():
            states, out = new, new[0]
        else:
            states = tuple(ops.where(active[t], n, s) for n, s in zip(new, states))
            out = ops.where(active[t], new[0], 0.0)
        outs.append(out)
    out = ops.stack(outs, 0)
    return (out[key] if reverse else out), states


def _step(mode, w_hh, nonlinearity, b_hh, w_hr, b_in=None):
    """step(xp_t, states) -> new states of one layer and direction, given its input projection xp_t,
    and the tensors it reads besides them."""
    def step(xp_t, state):
        if mode == "LSTM":
            return lstm_step(xp_t, state[0], state[1], w_hh, b_hh, w_hr)
        if mode == "GRU":
            return (gru_step(xp_t, state[0], w_hh, b_hh, b_in),)
        return (rnn_step(xp_t, state[0], w_hh, b_hh, nonlinearity),)
    return step, [t for t in (w_hh, b_hh, w_hr, b_in) if t is not None]


def _projection(w_ih, b_ih):
    """x -> x W_ihᵀ + b_ih, for one step (B, I) or a whole sequence (T, B, I), and the tensors it reads."""
    return (lambda x: linear(x, w_ih, b_ih)), [t for t in (w_ih, b_ih) if t is not None]


def _unrolled(mode, x, state, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity, w_hr=None):
    """One layer and direction as a Python loop over time steps built from primitive ops."""
    step, project = _step(mode, w_hh, nonlinearity, b_hh, w_hr)[0], _projection(w_ih, b_ih)[0]
    out, state = unrolled_sequence(step, x, tuple(state), lengths, reverse, project)
    return (out, *state)


def _compiled(mode, x, state, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity, w_hr=None):
    """One layer and direction: its step, input projection included, compiled into whole-sequence
    kernels (tinygrad_rnn.compiler), which hoists the projection out of the time loop. The biases
    are added to each other first where the cell sums them (one vector in the kernels, not two; a
    GRU's b_in stays apart, as b_hn sits inside r (W_hn h + b_hn)); the step is traced once per
    structure and sizes (``reads``)."""
    b_in = None
    if mode == "GRU" and b_ih is not None:
        H = w_hh.shape[1]
        rz = np.arange(3 * H) < 2 * H
        b_hh, b_in, b_ih = b_hh + b_ih * Tensor._make(rz.astype(b_ih.dtype)), b_ih[2 * H:], None
    elif b_ih is not None:
        b_ih, b_hh = b_ih + b_hh, None
    (step, step_reads), (project, project_reads) = (_step(mode, w_hh, nonlinearity, b_hh, w_hr, b_in),
                                                    _projection(w_ih, b_ih))
    out, finals = compiler.compiled_sequence(lambda x_t, s: step(project(x_t), s), x, tuple(state), lengths, reverse,
                                             reads=((mode, nonlinearity), project_reads + step_reads))
    return (out, *finals)


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, input checks, the layer/direction loop."""

    _kind, gates = None, 1  # "RNN", "LSTM" or "GRU": which step the kernels run

    @property
    def mode(self):
        """PyTorch's name of the layer's kind: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'."""
        return f"RNN_{self.nonlinearity.upper()}" if self._kind == "RNN" else self._kind

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, *, impl="fused", recurrent_init=None,
                 nonlinearity="tanh"):
        """PyTorch's positional order (nn.LSTM's); impl and recurrent_init, which PyTorch has not, only by name."""
        super().__init__()
        name = type(self).__name__
        check_sizes(name, input_size, hidden_size)
        check_device(device)
        if not isinstance(proj_size, (int, np.integer)) or isinstance(proj_size, bool) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be an int in [0, hidden_size={hidden_size}), got {proj_size!r}")
        if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and num_layers=1",
                          UserWarning, stacklevel=3)
        if impl not in ("fused", "unrolled"):
            raise ValueError(f"{name}: impl must be 'fused' or 'unrolled', got {impl!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if recurrent_init not in (None, "orthogonal", "identity"):
            raise ValueError(f"{name}: recurrent_init must be None, 'orthogonal' or 'identity', got {recurrent_init!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, int(num_layers)
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.impl, self.nonlinearity = bidirectional, impl, nonlinearity
        self.num_directions = 2 if bidirectional else 1
        self.proj_size = int(proj_size)
        out_size = self.proj_size or hidden_size
        dtype = np.dtype(dtype or get_default_dtype())
        if dtype not in (np.float32, np.float64):  # the dtypes the kernels are compiled for
            raise TypeError(f"{name}: dtype must be float32 or float64, got {dtype}")
        self._weight_names = []
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                size = input_size if layer == 0 else out_size * self.num_directions
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                self._weight_names.append(make_weights(self, suffix, size, hidden_size, self.gates, bias, dtype,
                                                       self.proj_size))
        if recurrent_init is not None:
            if self.proj_size:
                raise ValueError(f"{name}: recurrent_init needs square recurrent blocks; not with proj_size")
            self.init_recurrent(recurrent_init)

    def init_recurrent(self, scheme, gain=1.0):
        """Re-initialise every W_hh: 'orthogonal' (each gate's H×H block) or 'identity' (IRNN, Le et al. 2015)."""
        if scheme not in ("orthogonal", "identity"):
            raise ValueError(f"{type(self).__name__}: init_recurrent scheme must be 'orthogonal' or 'identity', "
                             f"got {scheme!r}")
        H = self.hidden_size
        for names in self._weight_names:
            w = getattr(self, names[1])
            for g in range(self.gates):
                block = Tensor._make(np.empty((H, H), dtype=w.dtype))
                if scheme == "orthogonal":
                    init.orthogonal_(block, gain)
                else:
                    init.eye_(block)
                    block._data *= gain
                w._data[g * H:(g + 1) * H] = block._data

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False), ("proj_size", 0), ("impl", "fused")):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)!r}"
        return s

    @property
    def all_weights(self):
        """Each layer-direction's parameters, [[w_ih, w_hh, b_ih, b_hh(, w_hr)], ...], as PyTorch's."""
        return [[getattr(self, n) for n in names] for names in self._weight_names]

    def flatten_parameters(self):
        """Present for PyTorch compatibility; parameters here are always laid out for the kernels."""

    # --- input handling -------------------------------------------------------------------------
    def _states(self, hx, B, batched, dtype):
        name = type(self).__name__
        n_states = 2 if self._kind == "LSTM" else 1
        sizes = (self.proj_size or self.hidden_size, self.hidden_size)  # h (projected), c
        shapes = [(self.num_layers * self.num_directions, B, size) for size in sizes[:n_states]]
        if hx is None:
            return [Tensor._make(np.zeros(shape, dtype=dtype)) for shape in shapes]
        if n_states == 2 and not isinstance(hx, (tuple, list)):
            raise TypeError(f"{name}: expected hx to be a tuple (h0, c0), got {type(hx).__name__}")
        states = list(hx) if n_states == 2 else [hx]
        if len(states) != n_states:
            raise ShapeError(f"{name}: expected hx to be a tuple (h0, c0), got {len(states)} tensors")
        out = []
        for label, s, shape in zip(("h0", "c0"), states, shapes):
            check_input(name, s, shape[2], dtype, what=label)
            expected = shape if batched else (shape[0], shape[2])
            if s.shape != expected:
                raise ShapeError(f"{name}: expected {label} of shape {expected}, got {s.shape}")
            out.append(s if batched else s.unsqueeze(1))
        return out

    def forward(self, input, hx=None, lengths=None):
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{name}: a PackedSequence carries its lengths; got lengths as well")
            return forward_packed(self, input, hx)
        dtype = getattr(self, self._weight_names[0][0]).dtype
        check_input(name, input, self.input_size, dtype)
        if input.ndim not in (2, 3):
            raise ShapeError(f"{name}: expected input of 2 dims (T, I) or 3 dims, got shape {input.shape}")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ShapeError(f"{name}: expected a sequence of at least one time step, got input of shape {input.shape}")
        lens = check_lengths(name, lengths, T, B, batched)
        states = self._states(hx, B, batched, dtype)
        run = _unrolled if self.impl != "fused" or B == 0 else _compiled  # B = 0: no row for the kernels
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                names = self._weight_names[k]
                params = [getattr(self, n) for n in names[:4 if self.bias else 2]] + ([] if self.bias else [None, None])
                extra = {"w_hr": getattr(self, names[-1])} if self.proj_size else {}
                out, *new = run(self._kind, x, [s[k] for s in states], *params, lens, d == 1, self.nonlinearity,
                                **extra)
                outs.append(out)
                for f, s in zip(finals, new):
                    f.append(s)
            x = outs[0] if len(outs) == 1 else ops.cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = ops.dropout(x, self.dropout, True)
        finals = [ops.stack(f, 0) for f in finals]
        if not batched:
            x, finals = x.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(finals) if self._kind == "LSTM" else finals[0])


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), as torch.nn.RNN."""

    _kind, gates = "RNN", 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, *, impl="fused", recurrent_init=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device,
                         dtype, impl=impl, recurrent_init=recurrent_init, nonlinearity=nonlinearity)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(RNNBase):
    """LSTM with gates i|f|g|o, as torch.nn.LSTM; forget_bias sets the forget gate's total bias."""

    _kind, gates = "LSTM", 4

    def __init__(self, *args, forget_bias=None, **kwargs):
        """proj_size=P > 0 projects h to P features (h_t = W_hr (o ⊙ tanh c_t)), as PyTorch's; with
        impl="fused" that layer's kernels are generated from its step by tinygrad_rnn.compiler."""
        if "nonlinearity" in kwargs:
            raise TypeError("LSTM: unexpected argument 'nonlinearity'")
        super().__init__(*args, **kwargs)
        if forget_bias is not None:
            if not self.bias:
                raise ValueError("LSTM: forget_bias needs bias=True")
            H = self.hidden_size
            for names in self._weight_names:
                getattr(self, names[2])._data[H:2 * H] = forget_bias
                getattr(self, names[3])._data[H:2 * H] = 0.0


class GRU(RNNBase):
    """GRU with gates r|z|n, n = tanh(W_in x + b_in + r (W_hn h + b_hn)), as torch.nn.GRU."""

    _kind, gates = "GRU", 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, *, impl="fused", recurrent_init=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device,
                         dtype, impl=impl, recurrent_init=recurrent_init)
