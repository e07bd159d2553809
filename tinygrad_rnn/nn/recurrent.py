"""nn.Recurrent: run any cell over a sequence, as a Python loop over its graph or compiled.

A cell is a Module with ``forward(x, state) -> new_state`` (x (B, I); state a Tensor (B, H) or a
tuple of them) and ``state_size`` (an int, or a tuple of ints, one per state Tensor). The layer
returns ``(output, final_state)``: output (T, B, H_0) stacks the first state Tensor after each step,
final_state has the structure of ``state``. Unbatched input (T, I), as nn.LSTM takes it, runs as a
batch of one: states are (H_k,) and the output (T, H_0). ``lengths`` behaves as for nn.LSTM: padded positions
output zeros and get no gradient, each sequence's final state is its own last step's, and with
``reverse=True`` each sequence is read from its own end.

impl="unrolled" calls the cell once per step (the oracle; any op, derivatives of any order);
impl="fused" compiles the graph that one step of the cell records into whole-sequence numba kernels
(see tinygrad_rnn.compiler for the op set and how the step is traced).
"""
import numpy as np

from .. import compiler
from ..tensor import Tensor
from .module import Module
from .rnn import check_lengths, unrolled_sequence


def _state_sizes(cell):
    """(sizes, as_tuple) from cell.state_size: an int or a non-empty tuple of positive ints."""
    size = getattr(cell, "state_size", None)
    as_tuple = isinstance(size, (tuple, list))
    sizes = tuple(size) if as_tuple else (size,)
    if not sizes or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise TypeError(f"Recurrent: cell.state_size must be a positive int or a tuple of them, got {size!r}")
    return tuple(int(s) for s in sizes), as_tuple


def make_step(cell, sizes, as_tuple):
    """step(x, states) -> tuple of new states: calls the cell and checks what it returns."""
    name = type(cell).__name__

    def step(x, states):
        new = cell(x, tuple(states) if as_tuple else states[0])
        new = tuple(new) if as_tuple and isinstance(new, (tuple, list)) else new
        if as_tuple != isinstance(new, tuple) or not all(isinstance(s, Tensor) for s in (new if as_tuple else (new,))):
            raise TypeError(f"Recurrent: {name}.forward must return "
                            f"{'a tuple of ' + str(len(sizes)) + ' Tensors' if as_tuple else 'a Tensor'} "
                            f"(as its state_size says), got {type(new).__name__}")
        new = new if as_tuple else (new,)
        expected = [(x.shape[0], s) for s in sizes]
        if len(new) != len(sizes) or [n.shape for n in new] != expected:
            raise ValueError(f"Recurrent: {name}.forward returned states of shapes {[tuple(n.shape) for n in new]}, "
                             f"expected {expected} (batch, state_size)")
        return new

    return step


class Recurrent(Module):
    """Runs ``cell`` over the time steps of a sequence; impl="fused" compiles it, "unrolled" loops."""

    def __init__(self, cell, batch_first=False, reverse=False, impl="fused"):
        super().__init__()
        if not isinstance(cell, Module):
            raise TypeError(f"Recurrent: cell must be an nn.Module, got {type(cell).__name__}")
        if impl not in ("fused", "unrolled"):
            raise ValueError(f"Recurrent: impl must be 'fused' or 'unrolled', got {impl!r}")
        _state_sizes(cell)
        self.cell, self.batch_first, self.reverse, self.impl = cell, bool(batch_first), bool(reverse), impl

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)!r}" for k, d in (("batch_first", False), ("reverse", False),
                                                                    ("impl", "fused")) if getattr(self, k) != d)

    def _initial_states(self, state, B, sizes, as_tuple, dtype, batched):
        if state is None:
            return tuple(Tensor._make(np.zeros((B, s), dtype=dtype)) for s in sizes)
        if as_tuple != isinstance(state, (tuple, list)):
            raise TypeError(f"Recurrent: expected state to be {'a tuple of Tensors' if as_tuple else 'a Tensor'} "
                            f"(the cell's state_size is {self.cell.state_size!r}), got {type(state).__name__}")
        states = tuple(state) if as_tuple else (state,)
        if len(states) != len(sizes):
            raise ValueError(f"Recurrent: expected {len(sizes)} state Tensors, got {len(states)}")
        for k, (s, size) in enumerate(zip(states, sizes)):
            if not isinstance(s, Tensor):
                raise TypeError(f"Recurrent: expected state {k} to be a Tensor, got {type(s).__name__}")
            if s.dtype != dtype:
                raise TypeError(f"Recurrent: expected state {k} of dtype {dtype} (the input's), got {s.dtype}")
            expected = (B, size) if batched else (size,)
            if s.shape != expected:
                raise ValueError(f"Recurrent: expected state {k} of shape {expected}, got {s.shape}")
        return states if batched else tuple(s.unsqueeze(0) for s in states)

    def forward(self, input, state=None, lengths=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"Recurrent: expected input to be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3) or input.dtype.kind != "f":
            raise ValueError(f"Recurrent: expected a floating input of 3 dims "
                             f"({'(B, T, I)' if self.batch_first else '(T, B, I)'}) or 2 (T, I), "
                             f"got {input.dtype} {input.shape}")
        for name, p in self.cell.named_parameters():
            if p.dtype != input.dtype:
                raise TypeError(f"Recurrent: expected input of dtype {p.dtype} (the cell's {name}), got {input.dtype}; "
                                "convert with .to() on the input or the cell")
        batched = input.ndim == 3
        x = input.unsqueeze(1) if not batched else input.transpose(0, 1) if self.batch_first else input
        T, B = x.shape[0], x.shape[1]
        if T == 0:  # as nn.LSTM (and PyTorch's RNNs): a sequence has a first step
            raise ValueError(f"Recurrent: expected a sequence of at least one time step, got input of shape {input.shape}")
        lens = check_lengths("Recurrent", lengths, T, B, batched)
        sizes, as_tuple = _state_sizes(self.cell)
        states = self._initial_states(state, B, sizes, as_tuple, x.dtype, batched)
        step = make_step(self.cell, sizes, as_tuple)
        if self.impl == "fused":
            out, finals = compiler.compiled_sequence(step, x, states, lens, self.reverse, cell=self.cell)
        else:
            out, finals = unrolled_sequence(step, x, states, lens, self.reverse)
        if not batched:
            out, finals = out.squeeze(1), [f.squeeze(0) for f in finals]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (tuple(finals) if as_tuple else finals[0])
