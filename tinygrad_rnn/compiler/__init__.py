"""The cell compiler: one traced step of a recurrent cell becomes whole-sequence numba kernels.

trace.py records the step's graph and splits it into hoisted input products, per-step products and
element-wise work; codegen.py writes the forward and BPTT kernels as Python source (placement.py decides
where each value and gradient lives, op_rules.py holds the per-op templates); cache.py keeps
them on disk so numba's cache holds across processes; sequence.py is the Function that runs them.
"""
import dataclasses
import weakref

from ..autograd import is_grad_enabled
from .cache import cache_dir, compile_fresh, load
from .codegen import Layout, generate, kernel_arguments
from .placement import size_dependent
from .sequence import SECOND_ORDER, CompiledSequence
from .trace import check_frontier, trace


_kernels = {}  # plan structure -> generated module (spares writing the source on every call)
_checked = weakref.WeakKeyDictionary()  # cell -> plan structures its step passed check_frontier with
_plans = {}  # (a library step's key, sizes, dtype, shapes) -> (plan without its frontier, its key, positions, kernels)
_variants = {}  # (plan structure, sizes' values) -> size_dependent(plan), a walk of the plan spared per call


def compiled_sequence(step, x, states, lengths, reverse, cell=None, reads=None):
    """(output, final states) of step(x_t, states) over x (T, B, I), as nn.Recurrent(impl="fused").

    The step is traced on every call (cheap next to the sequence: ~1 ms for a layer-normalised LSTM),
    so the parameters' current values and any parameter-only ops reach the kernels through the engine.
    ``cell``: the user's Module the step calls, traced once more (check_frontier) the first time it
    shows a graph of this structure; None for the library's own steps (nn.RNN/LSTM/GRU's),
    which compute nothing outside the graph. ``reads``: for those, (key, tensors) where the step
    reads no tensor but x, the states and these, and key names its structure: the plan is then
    traced once per key, sizes and dtype, and later calls hand it their own tensors (the trace is a
    quarter of nn.LSTM's training step at a batch of one)."""
    sizes = (x.shape[2], tuple(s.shape[1] for s in states))
    known = None if reads is None else (reads[0], sizes, x.dtype, tuple(t.shape for t in reads[1]))
    if known in _plans:
        plan, key, positions, kernels = _plans[known]
        frontier = [reads[1][i] for i in positions]
        return _run(x, states, frontier, plan, kernels, lengths, reverse)
    plan = trace(step, *sizes, x.dtype)
    frontier, structure = plan.frontier, plan.structure()
    sized = (structure, tuple(plan.sizes.items()))
    if sized not in _variants:
        _variants[sized] = size_dependent(plan)
    key = (structure, _variants[sized])
    positions = {id(t): i for i, t in enumerate(reads[1])} if reads is not None else {}
    if cell is not None and key not in _checked.setdefault(cell, set()):
        check_frontier(step, plan, x.dtype)
        _checked[cell].add(key)
    kernels = _kernels.get(key)
    if kernels is None:
        kernels = _kernels[key] = (load(generate(plan)), Layout(plan))
        backward_runs = is_grad_enabled() and any(t.requires_grad for t in (x, *states, *frontier))
        compile_fresh(kernels[0], kernel_arguments(plan, kernels[1], x.dtype), backward_runs)
    if known is not None and all(id(t) in positions for t in frontier):
        _plans[known] = (dataclasses.replace(plan, frontier=[]), key, [positions[id(t)] for t in frontier], kernels)
    return _run(x, states, frontier, plan, kernels, lengths, reverse)


def _run(x, states, frontier, plan, kernels, lengths, reverse):
    outs = CompiledSequence.apply(x, *states, *frontier, plan, kernels, lengths, reverse)
    return outs[0], tuple(outs[1:])
