"""Reverse-mode autograd: Function, grad mode, and the backward engine.

A Function's forward runs on NumPy arrays; when any input requires grad and grad mode is on, the
call records one graph node (the Function's ctx). The node keeps, per input, the edge its gradient
travels along (the producing node and output index, or the leaf tensor), fixed when it is recorded,
so later in-place operations cannot re-route it. The engine walks the graph in topological order
without recursion, keeping its bookkeeping in the call (so a backward inside a hook is safe), sums
the gradients reaching each output, un-broadcasts each gradient to its input's shape (here and
nowhere else) and frees saved arrays unless asked to retain them. Backward formulas are Tensor
operations, so with create_graph=True the backward itself is recorded: second derivatives.
Grad mode is per thread, as in PyTorch.
"""
import contextlib
import gc
import threading
import weakref

import numpy as np

from .tensor import Tensor, ShapeError


class _GradState(threading.local):
    enabled = True


_state = _GradState()


def is_grad_enabled():
    return _state.enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets this thread's grad mode and restores it on exit."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def _recreate_cm(self):
        return _GradMode(self.mode)  # a fresh instance per decorated call (re-entrant, recursive)


class set_grad_enabled(_GradMode):
    """Turn recording on or off for the calling thread, as PyTorch's: at once when called, until
    the end of the block as ``with set_grad_enabled(mode):``, or inside a function it decorates."""

    def __init__(self, mode):
        super().__init__(bool(mode))
        self.prev, _state.enabled = _state.enabled, self.mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        _state.enabled = self.prev  # as a decorator it sets the mode only while fn runs
        return super().__call__(fn)


def no_grad(fn=None):
    """No recording inside: ``with no_grad():``, ``@no_grad()`` or bare ``@no_grad``, as in PyTorch."""
    return _GradMode(False) if fn is None else _GradMode(False)(fn)


def inference_mode(mode=True):
    """no_grad when mode is true (the engine has no separate inference tensors); also a decorator."""
    if callable(mode):
        return _GradMode(False)(mode)
    return _GradMode(not mode)


def enable_grad(fn=None):
    """Recording inside, even within no_grad: used as no_grad is."""
    return _GradMode(True) if fn is None else _GradMode(True)(fn)


class Context:
    """Per-call state of a Function, and the graph node the call recorded.

    save_for_backward takes what backward needs; saved_tensors gives it back in the same order.
    An item that is one of forward's input arrays or returned arrays comes back as that Tensor,
    connected to the graph (so a backward using it records second derivatives), after checking
    that no in-place operation changed it since; anything else comes back as a constant.
    """

    __slots__ = ("fn", "inputs", "needs_input_grad", "edges", "outputs", "output_versions", "__dict__",
                 "__weakref__")
    saved = ()
    freed = False
    hooks = None
    retained = None
    on_free = ()
    rebound = None


    def save_for_backward(self, *items):
        self.saved = items

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(_FREED_MESSAGE.format(self.fn.__name__))
        return tuple([self._unpack(item) for item in self.saved])

    def _pack_saved(self, arrays):
        """At record time: each saved array that is an input or an output becomes a reference."""
        packed = []
        for item in self.saved:
            if isinstance(item, (np.ndarray, np.generic)):
                for k, a in enumerate(arrays):
                    if a is item and isinstance(self.inputs[k], Tensor):
                        t = self.inputs[k]
                        item = (_INPUT, k, t._version, t._version[0])
                        break
                else:
                    for i, out in enumerate(self.outputs):
                        if out is item:
                            item = (_OUTPUT, i, None, 0)
                            break
            packed.append(item)
        self.saved = packed

    def _unpack(self, item):
        if type(item) is not tuple or not item or (item[0] is not _INPUT and item[0] is not _OUTPUT):
            return Tensor._make(item) if isinstance(item, (np.ndarray, np.generic)) else item
        kind, k, box, version = item
        if kind is _OUTPUT:
            box, version = self.output_versions[k], self.rebound.get(k, 0) if self.rebound else 0
        if box[0] != version:
            what = f"input {k}" if kind is _INPUT else f"output {k}"
            raise RuntimeError(f"{self.fn.__name__}.backward: one of the tensors it saved ({what}) was modified "
                               f"by an in-place operation (its version is {box[0]}, expected {version}); "
                               "use an out-of-place op or .clone() before modifying it")
        if kind is _OUTPUT:
            return Tensor._make(self.outputs[k], True, self, k, box)
        edge, t = self.edges[k], self.inputs[k]
        if edge is None:
            return t if not t.requires_grad else Tensor._make(t._data)  # a constant when recorded
        if type(edge) is not tuple:
            return t  # a leaf: the tensor itself, so that gradients reach its .grad
        if t._ctx is edge[0] and t._index == edge[1]:
            return t
        return Tensor._make(t._data, True, edge[0], edge[1], box)  # t was re-pointed by an in-place op

    def rebind_output(self, index, array, version):
        """Output `index` is now `array` with that version counter (an in-place op wrote it there)."""
        outputs = list(self.outputs)
        outputs[index] = array
        self.outputs = tuple(outputs)
        self.output_versions = self.output_versions[:index] + (version,) + self.output_versions[index + 1:]
        self.rebound = {**(self.rebound or {}), index: version[0]}

    def retain(self, tensor):
        if self.retained is None:
            self.retained = [None] * len(self.outputs)
        self.retained[tensor._index] = weakref.ref(tensor)

    def add_hook(self, index, hook):
        if self.hooks is None:
            self.hooks = [[] for _ in self.outputs]
        self.hooks[index].append(hook)

    def free(self):
        self.freed = True
        self.saved = ()
        if self.on_free:
            callbacks, self.on_free = self.on_free, ()
            for callback in callbacks:
                callback()

    def call_on_free(self, callback):
        """Run callback when the graph releases this node (e.g. to recycle a kernel's buffers)."""
        self.on_free = self.on_free + (callback,)

    def name(self):
        return self.fn.__name__


_INPUT, _OUTPUT = object(), object()
_FREED_MESSAGE = ("{}: trying to backward through the graph a second time (its saved tensors were "
                  "freed); pass retain_graph=True to the first backward if you need to")


class Function:
    """Base class of differentiable operations; subclass with static forward and backward.

    forward(ctx, *args) receives NumPy arrays in place of Tensors (other arguments unchanged) and
    returns an array or a tuple of arrays; backward(ctx, *grads) receives one Tensor per output
    and returns one gradient (Tensor, array or None) per forward argument.
    """

    differentiable_twice = True

    @classmethod
    def apply(cls, *args):
        ctx = _new_context(Context)
        if not _state.enabled:  # backward formulas run here, without create_graph
            result = cls.forward(ctx, *[a._data if isinstance(a, Tensor) else a for a in args])
            return _unrecorded(ctx, result)
        arrays, needs, edges, record = [], [], [], False
        for a in args:
            if isinstance(a, Tensor):
                if a._base is not None and a._view_at != a._version[0]:
                    _views.refresh(a)  # the view's base changed since: take it anew
                arrays.append(a._data)
                if a.requires_grad:
                    record = True
                    needs.append(True)
                    edges.append(a if a._ctx is None else (a._ctx, a._index))
                    continue
            else:
                arrays.append(a)
            needs.append(False)
            edges.append(None)
        if record:
            return _record(cls, ctx, args, arrays, needs, edges)
        return _unrecorded(ctx, cls.forward(ctx, *arrays))

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError


def _unrecorded(ctx, result):
    """The outputs of a call that recorded nothing: Tensors without a graph node."""
    if ctx.on_free:
        ctx.free()
    if type(result) is tuple:
        return tuple([Tensor._make(r) for r in result])
    return Tensor._make(result)


def _record(fn, ctx, args, arrays, needs, edges):
    """Run forward and make ctx the graph node of the call: edges, outputs and version counters."""
    ctx.fn, ctx.inputs, ctx.needs_input_grad, ctx.edges = fn, args, tuple(needs), tuple(edges)
    result = fn.forward(ctx, *arrays)
    if type(result) is not tuple:
        box = [0]
        ctx.outputs, ctx.output_versions = (result,), (box,)
        if ctx.saved:
            ctx._pack_saved(arrays)
        if type(result) is not np.ndarray:  # NumPy returns scalars for 0-d results
            result = np.asarray(result)
            ctx.outputs = (result,)
        return Tensor._make(result, True, ctx, 0, box)
    ctx.outputs = result
    ctx.output_versions = tuple([[0] for _ in result])
    if ctx.saved:
        ctx._pack_saved(arrays)
    ctx.outputs = result = tuple([np.asarray(r) for r in result])
    return tuple([Tensor._make(r, True, ctx, i, ctx.output_versions[i]) if r.dtype.kind == "f"
                  else Tensor._make(r) for i, r in enumerate(result)])


_new_context = object.__new__


def _as_tensor_grad(g, like):
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g, dtype=like.dtype))


def _fit_to_input(grad, arr, fn_name):
    """Sum a gradient down to its input's shape (undoing broadcasting) and cast to its dtype."""
    if grad._data.shape != arr.shape:
        grad = sum_to(grad, arr.shape, fn_name)
    if grad._data.dtype != arr.dtype and arr.dtype.kind == "f":
        grad = grad.to(arr.dtype)
    return grad


def sum_to(grad, shape, fn_name="backward"):
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, grad.shape[lead:])):
        raise ShapeError(f"{fn_name}: gradient of shape {tuple(grad.shape)} cannot be summed to input shape {shape}")
    inner = tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if not inner:  # only leading dims were broadcast (a bias): one sum gives the shape
        return grad.sum(dim=tuple(range(lead))) if lead else grad
    return grad.sum(dim=tuple(range(lead)) + inner, keepdim=True).reshape(shape)


def _count_consumers(roots):
    """How many graph edges lead into each node reachable from roots (this backward's own count)."""
    consumers = dict.fromkeys(roots, 0)
    stack = list(roots)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if type(edge) is tuple:
                parent = edge[0]
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)
    return consumers


def _run_hooks(hooks, grad):
    for hook in hooks or ():
        result = hook(grad)
        if result is not None:
            grad = _as_tensor_grad(result, grad)
    return grad


def run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None, accumulate=True):
    """The engine. Accumulates into leaves' .grad (only `inputs`' when given and accumulate), or,
    with accumulate=False, returns the gradients of `inputs` as {position: grad}.

    Kahn's algorithm over the graph: a node runs once every consumer has passed it its gradient.
    """
    for out in outputs:
        if out._base is not None and out._view_at != out._version[0]:
            _views.refresh(out)  # a view whose base changed since: its gradient goes to the new base
    captured, wanted_leaf, wanted_node = {}, {}, {}
    for k, t in enumerate(inputs or ()):
        if t._ctx is None:
            wanted_leaf[id(t)] = k
        else:
            wanted_node[(t._ctx, t._index)] = k
    leaf_grads, pending = {}, {}
    roots = list(dict.fromkeys(out._ctx for out in outputs if out._ctx is not None))
    consumers = _count_consumers(roots)
    for out, g in zip(outputs, grad_outputs):
        if out._ctx is not None:
            slot = pending.setdefault(out._ctx, [None] * len(out._ctx.outputs))
            slot[out._index] = g if slot[out._index] is None else slot[out._index] + g
        elif out.requires_grad:
            _add_grad(leaf_grads, out, g)
    ready = [n for n in roots if consumers[n] == 0]
    with _GradMode(create_graph), _gc_paused():
        while ready:
            node = ready.pop()
            grads = pending.pop(node, None) or [None] * len(node.outputs)
            if node.freed:
                raise RuntimeError(_FREED_MESSAGE.format(node.fn.__name__))
            if create_graph and not node.fn.differentiable_twice:
                raise RuntimeError(node.fn.second_order_message)
            if wanted_node or node.hooks or node.retained:
                _observe(node, grads, wanted_node, captured)
            if len(grads) == 1 and grads[0] is not None:
                in_grads = node.fn.backward(node, grads[0])
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
                if len(in_grads) != len(node.edges):
                    _wrong_count(node, in_grads)
            else:
                in_grads = _call_backward(node, grads)
            if not retain_graph:
                if node.on_free:
                    node.free()
                else:
                    node.freed, node.saved = True, ()
            for edge, g, inp in zip(node.edges, in_grads, node.inputs):
                if edge is None:
                    continue
                if g is not None:
                    if not isinstance(g, Tensor):
                        g = _as_tensor_grad(g, inp)
                    arr = inp._data
                    if g._data.shape != arr.shape or g._data.dtype != arr.dtype:
                        g = _fit_to_input(g, arr, node.fn.__name__)
                if type(edge) is not tuple:
                    if g is not None:
                        _add_grad(leaf_grads, edge, g)
                    continue
                parent, i = edge
                if g is not None:
                    slot = pending.get(parent)
                    if slot is None:
                        pending[parent] = slot = [None] * len(parent.outputs)
                    slot[i] = g if slot[i] is None else slot[i] + g
                left = consumers[parent] - 1
                consumers[parent] = left
                if left == 0:
                    ready.append(parent)
        for tensor, g in leaf_grads.values():
            g = _run_hooks(tensor._hooks, g)
            if id(tensor) in wanted_leaf and not accumulate:
                captured[wanted_leaf[id(tensor)]] = g
            elif inputs is None or id(tensor) in wanted_leaf:
                tensor.grad = tensor.grad + g if tensor.grad is not None else _own(g, create_graph)
        if accumulate and wanted_node:  # backward(inputs=[non-leaf]) fills their .grad
            for k, g in captured.items():
                t = inputs[k]
                t.grad = t.grad + g if t.grad is not None else _own(g, create_graph)
            captured = {}
    return captured


@contextlib.contextmanager
def _gc_paused():
    """Pause Python's cyclic collector during the walk: as backward allocates it would rescan the
    whole live graph again and again, finding nothing (the graph is freed by reference counting)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _observe(node, grads, wanted_node, captured):
    """Tensor hooks, retain_grad and autograd.grad's non-leaf inputs see a node's summed gradients."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        if node.hooks and node.hooks[i]:
            grads[i] = g = _run_hooks(node.hooks[i], g)
        if node.retained and node.retained[i] is not None:
            t = node.retained[i]()
            if t is not None:
                t.grad = g if t.grad is None else t.grad + g
        if (node, i) in wanted_node:
            captured[wanted_node[(node, i)]] = g


def _call_backward(node, grads):
    """Run one node's backward; a node no gradient reached passes None to all its inputs."""
    if len(grads) == 1:
        if grads[0] is None:
            return (None,) * len(node.inputs)
        in_grads = node.fn.backward(node, grads[0])
    elif all(g is None for g in grads):
        return (None,) * len(node.inputs)
    else:
        grads = [g if g is not None else Tensor._make(np.zeros_like(o)) for g, o in zip(grads, node.outputs)]
        in_grads = node.fn.backward(node, *grads)
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    if len(in_grads) != len(node.inputs):
        _wrong_count(node, in_grads)
    return in_grads


def _wrong_count(node, in_grads):
    raise RuntimeError(f"{node.fn.__name__}.backward returned {len(in_grads)} gradients, "
                       f"expected {len(node.inputs)} (one per forward argument)")


def _own(g, create_graph):
    """A leaf's first .grad: a private writable array (engine gradients may be shared or broadcast views)."""
    return g if create_graph else Tensor._make(np.array(g._data))


def _add_grad(store, tensor, g):
    key = id(tensor)
    store[key] = (tensor, store[key][1] + g) if key in store else (tensor, g)


def _default_grad(out, g, name):
    if g is None:
        if out._data.size != 1:
            raise ShapeError(f"{name}: grad can be implicitly created only for scalar outputs, "
                             f"got output of shape {tuple(out.shape)}; pass a gradient of that shape")
        return Tensor._make(np.ones_like(out._data))
    g = g if isinstance(g, Tensor) else Tensor._make(np.asarray(g, dtype=out.dtype))
    if g.shape != out.shape:
        raise ShapeError(f"{name}: gradient has shape {tuple(g.shape)}, expected the output's shape "
                         f"{tuple(out.shape)}")
    return g


def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Tensor.backward: accumulate d(tensor)/d(leaf) into every leaf's .grad (or only inputs').
    Also torch.autograd.backward: a sequence of tensors, with a sequence of gradients (or None)."""
    tensors = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    grads = [gradient] if isinstance(tensor, Tensor) else list(gradient or [None] * len(tensors))
    if len(grads) != len(tensors):
        raise ValueError(f"backward: got {len(grads)} gradients for {len(tensors)} tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"backward: expected Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    gs = [_default_grad(t, g, "backward") for t, g in zip(tensors, grads)]
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    run_backward(tensors, gs, retain, create_graph, inputs=inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of outputs w.r.t. inputs, returned as a tuple instead of stored in .grad."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: every input must be a Tensor that requires grad")
    gs = [_default_grad(o, g, "grad") for o, g in zip(outputs, grad_outputs)]
    retain = create_graph if retain_graph is None else retain_graph
    captured = run_backward(outputs, gs, retain, create_graph, inputs=inputs, accumulate=False)
    result = []
    for k, t in enumerate(inputs):
        if k not in captured and not allow_unused:
            raise RuntimeError(f"grad: input {k} (shape {tuple(t.shape)}) was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        result.append(captured.get(k))
    return tuple(result)


def once_differentiable(message):
    """Class decorator: the Function's backward is not itself differentiable."""
    def mark(cls):
        cls.differentiable_twice = False
        cls.second_order_message = message
        return cls
    return mark


from .curvature import jvp, vjp, hvp, gnvp  # noqa: E402
from . import jacobians as functional  # noqa: E402,F401  (torch.autograd.functional)
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402,F401  (torch.autograd.gradcheck)
from . import views as _views  # noqa: E402  (views build on Function)
