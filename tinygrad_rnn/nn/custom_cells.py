"""Recurrent cells beyond the built-in three, for nn.Recurrent: each is a step written with ops.

forward(x, state) takes x (B, I) and the state (a Tensor (B, H) or a tuple (h, c)) and returns the
new state; state_size says its shape. Weights follow the built-ins: weight_ih (G·H, I), weight_hh
(G·H, H), bias_ih/bias_hh (G·H,), U(-1/√H, 1/√H), gate rows stacked in the order each docstring gives.
"""
import math

import numpy as np

from ..tensor import get_default_dtype
from . import functional as F
from . import init
from .cells import check_sizes, make_weights
from .module import Module, Parameter


class _Cell(Module):
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.dtype = np.dtype(dtype or get_default_dtype())
        make_weights(self, "", input_size, hidden_size, self.gates, bias, self.dtype)

    def _vector(self, n, value=None):
        """A (n,) parameter: U(-1/√H, 1/√H), or filled with value."""
        p = Parameter(np.full(n, 0.0 if value is None else value, dtype=self.dtype))
        if value is None:
            bound = 1.0 / math.sqrt(self.hidden_size)
            init.uniform_(p, -bound, bound)
        return p

    def _input_projection(self, x):
        return F.linear(x, self.weight_ih, self.bias_ih if self.bias else None)

    def _state_projection(self, h):
        return F.linear(h, self.weight_hh, self.bias_hh if self.bias else None)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LayerNormLSTMCell(_Cell):
    """Layer-normalised LSTM (Ba et al. 2016), gates i|f|g|o:
    a = LN(W_ih x) + LN(W_hh h) + b;  c' = σ(a_f) c + σ(a_i) tanh(a_g);  h' = σ(a_o) tanh(LN(c')).
    Each LN has its own gain (ones) and shift (zeros); b = bias_ih + bias_hh."""

    gates = 4

    def __init__(self, input_size, hidden_size, bias=True, eps=1e-5, dtype=None):
        super().__init__(input_size, hidden_size, bias, dtype)
        G, H = 4 * hidden_size, hidden_size
        self.eps, self.state_size = eps, (H, H)
        self.ln_ih_weight, self.ln_ih_bias = self._vector(G, 1.0), self._vector(G, 0.0)
        self.ln_hh_weight, self.ln_hh_bias = self._vector(G, 1.0), self._vector(G, 0.0)
        self.ln_c_weight, self.ln_c_bias = self._vector(H, 1.0), self._vector(H, 0.0)

    def forward(self, x, state):
        h, c = state
        G = 4 * self.hidden_size
        a = (F.layer_norm(F.linear(x, self.weight_ih), G, self.ln_ih_weight, self.ln_ih_bias, self.eps)
             + F.layer_norm(F.linear(h, self.weight_hh), G, self.ln_hh_weight, self.ln_hh_bias, self.eps))
        if self.bias:
            a = a + (self.bias_ih + self.bias_hh)
        a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
        c = a_f.sigmoid() * c + a_i.sigmoid() * a_g.tanh()
        h = a_o.sigmoid() * F.layer_norm(c, self.hidden_size, self.ln_c_weight, self.ln_c_bias, self.eps).tanh()
        return h, c


class PeepholeLSTMCell(_Cell):
    """LSTM with peephole connections (Gers et al. 2002), gates i|f|g|o:
    i = σ(a_i + p_i c), f = σ(a_f + p_f c), c' = f c + i tanh(a_g), o = σ(a_o + p_o c'), h' = o tanh(c'),
    with a = W_ih x + b_ih + W_hh h + b_hh and diagonal peephole weights p_i, p_f, p_o (H,)."""

    gates = 4

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__(input_size, hidden_size, bias, dtype)
        self.state_size = (hidden_size, hidden_size)
        self.peephole_i, self.peephole_f, self.peephole_o = (self._vector(hidden_size) for _ in range(3))

    def forward(self, x, state):
        h, c = state
        a_i, a_f, a_g, a_o = (self._input_projection(x) + self._state_projection(h)).chunk(4, dim=-1)
        i, f = (a_i + self.peephole_i * c).sigmoid(), (a_f + self.peephole_f * c).sigmoid()
        c = f * c + i * a_g.tanh()
        o = (a_o + self.peephole_o * c).sigmoid()
        return o * c.tanh(), c


class MGUCell(_Cell):
    """Minimal gated unit (Zhou et al. 2016), rows f|n:
    f = σ(W_f x + b_f + U_f h + c_f);  n = tanh(W_n x + b_n + U_n (f h) + c_n);  h' = (1 - f) h + f n."""

    gates = 2

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__(input_size, hidden_size, bias, dtype)
        self.state_size = hidden_size

    def forward(self, x, h):
        H = self.hidden_size
        x_f, x_n = self._input_projection(x).chunk(2, dim=-1)
        f = x_f + F.linear(h, self.weight_hh[:H])
        if self.bias:
            f = f + self.bias_hh[:H]
        f = f.sigmoid()
        n = x_n + F.linear(f * h, self.weight_hh[H:])
        if self.bias:
            n = n + self.bias_hh[H:]
        return h + f * (n.tanh() - h)


class IndRNNCell(_Cell):
    """Independently recurrent network (Li et al. 2018): h' = relu(W_ih x + b_ih + u h + b_hh), each unit
    its own scalar recurrent weight u (H,), here U(0, 1) so that relu units neither vanish nor explode."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__(input_size, hidden_size, bias, dtype)
        self.state_size = hidden_size
        self.weight_hh = Parameter(np.zeros(hidden_size, dtype=self.dtype))  # replaces the (H, H) matrix
        init.uniform_(self.weight_hh, 0.0, 1.0)

    def forward(self, x, h):
        a = self._input_projection(x) + self.weight_hh * h
        if self.bias:
            a = a + self.bias_hh
        return a.relu()
