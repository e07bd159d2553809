"""Module hooks, as PyTorch's: forward pre-hooks hook(module, args) (may return new args), forward
hooks hook(module, args, output) (may return a new output), full backward pre-hooks
hook(module, grad_output) (may return new output gradients) and full backward hooks
hook(module, grad_input, grad_output) (may return new input gradients).

The backward ones pass the call's tensor arguments and outputs through identity nodes, whose
backward sees those gradients. As in PyTorch, grad_input has one entry per positional argument and
grad_output one per output (a tuple's top-level items), None where that is no tensor or needs no
gradient (an output that got no gradient shows zeros here)."""
import numpy as np

from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor


class _Identities(Function):
    """Each input unchanged (copies, so that an in-place write to one cannot reach the other); its
    backward passes on on_grads(grads)."""

    @staticmethod
    def forward(ctx, on_grads, *arrays):
        ctx.on_grads = on_grads
        return tuple(a.copy() for a in arrays) if len(arrays) > 1 else arrays[0].copy()

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.on_grads(grads))


def _through(values, on_grads):
    """values (a tuple) with its tensors passed through one identity node when any requires grad,
    whose backward calls on_grads with one gradient per item of values (None for the non-tensors,
    zeros for tensors no gradient reached) and hands on what it returns for the tensors."""
    picked = [k for k, v in enumerate(values) if isinstance(v, Tensor)]
    if not any(values[k].requires_grad for k in picked):
        return values, False

    def spread(grads):
        full = [None] * len(values)
        for k, g in zip(picked, grads):  # a tensor that needs no gradient shows zeros, as in PyTorch
            full[k] = g if values[k].requires_grad else Tensor._make(np.zeros_like(g._data))
        full = tuple(on_grads(tuple(full)))
        return [full[k] for k in picked]

    out = _Identities.apply(spread, *(values[k] for k in picked))
    out = iter(out if isinstance(out, tuple) else (out,))
    return tuple(next(out) if k in picked else v for k, v in enumerate(values)), True


def _hooks(module, kind):
    return list(module._module_hooks[kind].values())


def call_with_hooks(module, args, kwargs):
    """module.forward(*args, **kwargs) with its hooks around it."""
    for hook, with_kwargs in _hooks(module, "forward_pre"):
        result = hook(module, args, kwargs) if with_kwargs else hook(module, args)
        if result is not None and with_kwargs:
            args, kwargs = result
        elif result is not None:
            args = result if isinstance(result, tuple) else (result,)
    backward = bool(module._module_hooks["backward"] or module._module_hooks["backward_pre"]) and is_grad_enabled()
    seen = {"grad_output": None}
    if backward:
        args, seen["inputs_wrapped"] = _through(args, lambda grads: _backward_hooks(module, grads, seen))
    output = module.forward(*args, **kwargs)
    for hook, with_kwargs in _hooks(module, "forward"):
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    if backward:
        single = isinstance(output, Tensor)
        wrapped, _ = _through((output,) if single else tuple(output) if isinstance(output, tuple) else (),
                              lambda grads: _output_grads(module, grads, seen, len(args)))
        output = wrapped[0] if single else wrapped if isinstance(output, tuple) else output
    return output


def _backward_hooks(module, grad_input, seen):
    for hook, _ in _hooks(module, "backward"):
        result = hook(module, grad_input, seen["grad_output"])
        if result is not None:
            grad_input = tuple(result)
    return grad_input


def _output_grads(module, grad_output, seen, n_args):
    for hook, _ in _hooks(module, "backward_pre"):
        result = hook(module, grad_output)
        if result is not None:
            grad_output = tuple(result)
    seen["grad_output"] = grad_output
    if not seen["inputs_wrapped"]:  # no argument needs a gradient: the hooks still run, with Nones
        _backward_hooks(module, (None,) * n_args, seen)
    return grad_output
