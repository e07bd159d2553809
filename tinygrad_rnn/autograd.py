"""Reverse-mode autograd: Function, grad mode, and the backward engine.

A Function's forward runs on NumPy arrays; when any input requires grad and grad mode is on, the
call records one graph node (the Function's ctx) holding its inputs and whatever it saved. The
engine walks the graph in topological order without recursion, sums the gradients that reach each
tensor, un-broadcasts each gradient to its input's shape (here and nowhere else) and frees saved
tensors unless asked to retain them. Backward formulas are written with Tensor operations, so
running them with grad mode on (create_graph=True) records the backward itself: second derivatives.
"""
import contextlib
import gc

import numpy as np

from .tensor import Tensor, ShapeError

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


def set_grad_enabled(mode):
    global _grad_enabled
    _grad_enabled = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode and restores it on exit."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = _grad_enabled
        set_grad_enabled(self.mode)

    def __exit__(self, *exc):
        set_grad_enabled(self.prev)
        return False

    def _recreate_cm(self):
        return _GradMode(self.mode)  # a fresh instance per decorated call (re-entrant, recursive)


def no_grad():
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class Context:
    """Per-call state of a Function, and the graph node that call recorded.

    save_for_backward takes arrays given to / returned by forward (or anything else); saved_tensors
    gives them back as Tensors connected to the graph, so a backward that uses them records second
    derivatives. Saved outputs are not held as Tensors (that would be a reference cycle): they are
    re-wrapped on access as views of this node's outputs.
    """

    saved = ()
    freed = False
    grads = None
    consumers = 0
    hooks = None
    retained = None
    on_free = ()

    def __init__(self, fn, inputs, needs_input_grad):
        self.fn = fn
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *items):
        self.saved = items

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(_FREED_MESSAGE.format(self.fn.__name__))
        wrap = self._wrap
        return tuple([wrap(item) for item in self.saved])

    def _wrap(self, item):
        if not isinstance(item, (np.ndarray, np.generic)):  # ufuncs on 0-d arrays return np.generic scalars
            return item
        for t in self.inputs:
            if isinstance(t, Tensor) and t.data is item:
                return t
        for i, out in enumerate(self.outputs):
            if out is item:
                return Tensor._make(item, True, self, i)
        return Tensor._make(item)

    def free(self):
        self.freed = True
        self.saved = ()
        if self.on_free:
            for callback in self.on_free:
                callback()
            self.on_free = ()

    def call_on_free(self, callback):
        """Run callback when the graph releases this node (e.g. to recycle a kernel's buffers)."""
        self.on_free = self.on_free + (callback,)


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
        if not _grad_enabled:
            return _unrecorded(cls.forward(_NO_CTX, *[a.data if isinstance(a, Tensor) else a for a in args]))
        arrays, needs = [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        if True not in needs:
            return _unrecorded(cls.forward(_NO_CTX, *arrays))
        ctx = Context(cls, args, tuple(needs))
        result = cls.forward(ctx, *arrays)
        if not isinstance(result, tuple):
            ctx.outputs = (result,)
            return Tensor._make(result, True, ctx, 0)
        ctx.outputs = result
        return tuple(Tensor._make(r, True, ctx, i) if r.dtype.kind == "f" else Tensor._make(r)
                     for i, r in enumerate(result))

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError


def _unrecorded(result):
    """The outputs of a call that recorded nothing: Tensors without a graph node."""
    return tuple(Tensor._make(r) for r in result) if isinstance(result, tuple) else Tensor._make(result)


class _NullContext:
    """Stands in for a Context when nothing is recorded: saving is a no-op."""

    needs_input_grad = ()

    def save_for_backward(self, *items):
        pass

    def call_on_free(self, callback):
        callback()

    def __setattr__(self, name, value):
        pass


_NO_CTX = _NullContext()


def _as_tensor_grad(g, like):
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g, dtype=like.dtype))


def _fit_to_input(grad, inp, fn_name):
    """Sum a gradient down to its input's shape (undoing broadcasting) and cast to its dtype."""
    if grad.data.shape != inp.data.shape:
        grad = sum_to(grad, inp.data.shape, fn_name)
    if grad.data.dtype != inp.data.dtype and inp.data.dtype.kind == "f":
        grad = grad.to(inp.data.dtype)
    return grad


def sum_to(grad, shape, fn_name="backward"):
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, grad.shape[lead:])):
        raise ShapeError(f"{fn_name}: gradient of shape {grad.shape} cannot be summed to input shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(dim=axes, keepdim=True)
    return grad.reshape(shape)


def _count_consumers(roots):
    """Set node.consumers to the number of graph edges into each node reachable from roots."""
    stack = list(roots)
    for node in roots:
        node.consumers, node.grads = 0, None
    seen = set(map(id, roots))
    while stack:
        node = stack.pop()
        for t in node.inputs:
            if isinstance(t, Tensor) and t._ctx is not None:
                parent = t._ctx
                if id(parent) not in seen:
                    seen.add(id(parent))
                    parent.consumers, parent.grads = 0, None
                    stack.append(parent)
                parent.consumers += 1


def _run_hooks(hooks, grad):
    for hook in hooks or ():
        result = hook(grad)
        if result is not None:
            grad = _as_tensor_grad(result, grad)
    return grad


def _deposit(node, index, g):
    """Add g to the gradient waiting at output `index` of node."""
    if node.grads is None:
        node.grads = [None] * len(node.outputs)
    slot = node.grads
    slot[index] = g if slot[index] is None else slot[index] + g


def run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None):
    """The engine. Accumulates into leaves' .grad, or, with inputs given, returns their grads.

    Kahn's algorithm over the graph: a node runs once every consumer has passed it its gradient.
    """
    captured, wanted_leaf, wanted_node = {}, {}, {}
    for k, t in enumerate(inputs or ()):
        if t._ctx is None:
            wanted_leaf[id(t)] = k
        else:
            wanted_node[(id(t._ctx), t._index)] = k
    leaf_grads = {}
    roots = []
    for out in outputs:
        if out._ctx is not None and out._ctx not in roots:
            roots.append(out._ctx)
    _count_consumers(roots)
    for out, g in zip(outputs, grad_outputs):
        if out._ctx is not None:
            _deposit(out._ctx, out._index, g)
        elif out.requires_grad:
            _add_grad(leaf_grads, out, g)
    ready = [n for n in roots if n.consumers == 0]
    with _GradMode(create_graph), _gc_paused():
        while ready:
            node = ready.pop()
            grads, node.grads = node.grads or [None] * len(node.outputs), None
            if node.freed:
                raise RuntimeError(_FREED_MESSAGE.format(node.fn.__name__))
            if create_graph and not node.fn.differentiable_twice:
                raise RuntimeError(node.fn.second_order_message)
            if wanted_node or node.hooks or node.retained:
                _observe(node, grads, wanted_node, captured)
            in_grads = _call_backward(node, grads)
            if not retain_graph:
                node.free()
            for t, g, needed in zip(node.inputs, in_grads, node.needs_input_grad):
                if not needed:
                    continue
                if g is not None:
                    if not isinstance(g, Tensor):
                        g = _as_tensor_grad(g, t)
                    if g.data.shape != t.data.shape or g.data.dtype != t.data.dtype:
                        g = _fit_to_input(g, t, node.fn.__name__)
                parent = t._ctx
                if parent is None:
                    if g is not None:
                        _add_grad(leaf_grads, t, g)
                    continue
                if g is not None:
                    slot = parent.grads
                    if slot is None:
                        parent.grads = slot = [None] * len(parent.outputs)
                    i = t._index
                    slot[i] = g if slot[i] is None else slot[i] + g
                parent.consumers -= 1
                if parent.consumers == 0:
                    ready.append(parent)
        for tensor, g in leaf_grads.values():
            g = _run_hooks(tensor._hooks, g)
            if id(tensor) in wanted_leaf:
                captured[wanted_leaf[id(tensor)]] = g
            elif inputs is None:
                tensor.grad = tensor.grad + g if tensor.grad is not None else _own(g, create_graph)
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
        if (id(node), i) in wanted_node:
            captured[wanted_node[(id(node), i)]] = g


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
    if not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    if len(in_grads) != len(node.inputs):
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(in_grads)} gradients, "
                           f"expected {len(node.inputs)} (one per forward argument)")
    return in_grads


def _own(g, create_graph):
    """A leaf's first .grad: a private writable array (engine gradients may be shared or broadcast views)."""
    return g if create_graph else Tensor._make(np.array(g.data))


def _add_grad(store, tensor, g):
    key = id(tensor)
    store[key] = (tensor, store[key][1] + g) if key in store else (tensor, g)


def _default_grad(out, g, name):
    if g is None:
        if out.data.size != 1:
            raise ShapeError(f"{name}: grad can be implicitly created only for scalar outputs, "
                             f"got output of shape {out.shape}; pass a gradient of that shape")
        return Tensor._make(np.ones_like(out.data))
    g = g if isinstance(g, Tensor) else Tensor._make(np.asarray(g, dtype=out.dtype))
    if g.shape != out.shape:
        raise ShapeError(f"{name}: gradient has shape {g.shape}, expected the output's shape {out.shape}")
    return g


def backward(tensor, gradient=None, retain_graph=None, create_graph=False):
    """Tensor.backward: accumulate d(tensor)/d(leaf) into every leaf's .grad."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    g = _default_grad(tensor, gradient, "backward")
    retain = create_graph if retain_graph is None else retain_graph
    run_backward([tensor], [g], retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of outputs w.r.t. inputs, returned as a tuple instead of stored in .grad."""
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
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
    captured = run_backward(outputs, gs, retain, create_graph, inputs=inputs)
    result = []
    for k, t in enumerate(inputs):
        if k not in captured and not allow_unused:
            raise RuntimeError(f"grad: input {k} (shape {t.shape}) was not used to compute the outputs; "
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
