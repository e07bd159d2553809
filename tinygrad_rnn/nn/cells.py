"""Recurrent cells composed from primitive ops: one time step, derivatives (of any order) from the engine.

The step functions take the input projection xp = W_ih x + b_ih already computed, so that a layer can
hoist that product for all time steps into one matmul; h W_hhᵀ + b_hh is one linear node (which the
cell compiler reads as a product with W_hh itself: no transpose node per call).
Gate layouts are PyTorch's: LSTM rows i|f|g|o, GRU rows r|z|n.
"""
import math

import numpy as np

from ..ops.linalg import linear
from ..tensor import ShapeError, Tensor, check_device, get_default_dtype
from . import init
from .module import Module, Parameter


def rnn_step(xp, h, w_hh, b_hh, nonlinearity):
    """h' = act(xp + h W_hhᵀ + b_hh)."""
    a = xp + linear(h, w_hh, b_hh)
    return a.tanh() if nonlinearity == "tanh" else a.relu()


def lstm_step(xp, h, c, w_hh, b_hh, w_hr=None):
    """i, f, o = σ(·), g = tanh(·) of xp + h W_hhᵀ + b_hh;  c' = f c + i g;  h' = o tanh(c')
    (projected to h' W_hrᵀ when the LSTM has proj_size)."""
    a = xp + linear(h, w_hh, b_hh)
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
    i, f, o, g = a_i.sigmoid(), a_f.sigmoid(), a_o.sigmoid(), a_g.tanh()
    c = f * c + i * g
    h = o * c.tanh()
    return (h if w_hr is None else linear(h, w_hr)), c


def gru_step(xp, h, w_hh, b_hh, b_in=None):
    """r, z = σ(x_r + h_r), σ(x_z + h_z);  n = tanh(x_n + r (W_hn h + b_hn));  h' = (1 - z) n + z h
    (x_n + b_in when b_in is given apart from the input projection)."""
    hp = linear(h, w_hh, b_hh)
    x_r, x_z, x_n = xp.chunk(3, dim=-1)
    if b_in is not None:
        x_n = x_n + b_in
    h_r, h_z, h_n = hp.chunk(3, dim=-1)
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return n + z * (h - n)


def make_weights(module, suffix, input_size, hidden_size, gates, bias, dtype, proj_size=0):
    """Register weight_ih{suffix} (gates·H, I), weight_hh{suffix} (gates·H, H, or P with a projection),
    biases, and weight_hr{suffix} (P, H) when proj_size = P > 0; all U(-1/√H, 1/√H)."""
    names = [f"weight_ih{suffix}", f"weight_hh{suffix}"]
    shapes = [(gates * hidden_size, input_size), (gates * hidden_size, proj_size or hidden_size)]
    if bias:
        names += [f"bias_ih{suffix}", f"bias_hh{suffix}"]
        shapes += [(gates * hidden_size,), (gates * hidden_size,)]
    if proj_size:
        names.append(f"weight_hr{suffix}")
        shapes.append((proj_size, hidden_size))
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for name, shape in zip(names, shapes):
        p = Parameter(np.zeros(shape, dtype=dtype))
        init.uniform_(p, -bound, bound)
        setattr(module, name, p)
    return names


def check_sizes(name, input_size, hidden_size):
    for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")


def check_input(name, x, size, dtype, what="input"):
    """A Tensor of the module's dtype whose last dim is `size` (TypeError/ValueError otherwise)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected {what} to be a Tensor, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected {what} of dtype {dtype} (the module's), got {x.dtype}; "
                        "convert with .to() on the input or the module")
    if x.ndim == 0 or x.shape[-1] != size:
        raise ShapeError(f"{name} expected {what} of size {size} in its last dim, got shape {x.shape}")


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        make_weights(self, "", input_size, hidden_size, self.gates, bias, np.dtype(dtype or get_default_dtype()))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _prepare(self, x, hx):
        """(B, I) or (I,) input and optional (B, H)/(H,) state(s) -> batched tensors and a flag."""
        name = type(self).__name__
        check_input(name, x, self.input_size, self.weight_ih.dtype)
        if x.ndim not in (1, 2):
            raise ShapeError(f"{name}: expected input of shape (B, {self.input_size}) or ({self.input_size},), "
                             f"got {x.shape}")
        batched = x.ndim == 2
        x = x if batched else x.unsqueeze(0)
        states = hx if isinstance(hx, tuple) else (hx,)
        out = []
        for k, s in enumerate(states):
            if s is None:
                s = Tensor._make(np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))
            else:
                check_input(name, s, self.hidden_size, x.dtype, what="hx")
                expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
                if s.shape != expected:
                    raise ShapeError(f"{name}: expected hx of shape {expected}, got {s.shape}")
                s = s if batched else s.unsqueeze(0)
            out.append(s)
        return x, out, batched

    def _projection(self, x):
        return linear(x, self.weight_ih, self.bias_ih if self.bias else None)


class RNNCell(_CellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), as torch.nn.RNNCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare(input, hx)
        h = rnn_step(self._projection(input), h, self.weight_hh,
                     self.bias_hh if self.bias else None, self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """(h', c') from x and (h, c), as torch.nn.LSTMCell."""

    gates = 4

    def forward(self, input, hx=None):
        if hx is not None and not isinstance(hx, (tuple, list)):
            raise TypeError(f"LSTMCell: expected hx to be a tuple (h, c), got {type(hx).__name__}")
        if hx is not None and len(hx) != 2:
            raise ValueError(f"LSTMCell: expected hx to be a tuple (h, c), got {len(hx)} tensors")
        input, (h, c), batched = self._prepare(input, (None, None) if hx is None else tuple(hx))
        h, c = lstm_step(self._projection(input), h, c, self.weight_hh,
                         self.bias_hh if self.bias else None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """h' from x and h, as torch.nn.GRUCell."""

    gates = 3

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare(input, hx)
        h = gru_step(self._projection(input), h, self.weight_hh, self.bias_hh if self.bias else None)
        return h if batched else h.squeeze(0)
