"""Module, Parameter and the two containers (Sequential, ModuleList), with PyTorch's semantics.

A Module registers the Parameters, sub-Modules and buffers assigned to its attributes, so that
parameters(), state_dict() and load_state_dict() can walk the tree with dotted names in PyTorch's
order: a module's own entries in registration order, then each child's.
"""
import itertools
from collections import namedtuple

import numpy as np

from ..autograd import no_grad
from ..tensor import HookHandle, Tensor, _is_device, as_dtype, check_device, get_default_dtype, to_numpy
from .hooks import call_with_hooks

_hook_ids = itertools.count()


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter when it is assigned as an attribute.

    The data (a Tensor, array or nested list) is copied, so the Parameter owns a writable array
    that initialisers and optimizers may update in place.
    """

    def __init__(self, data=None, requires_grad=True):
        super().__init__(np.empty(0, dtype=get_default_dtype()) if data is None else data,
                         requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def float_dtype(dtype, name):
    """dtype as a NumPy floating dtype (the default when None); TypeError for anything else."""
    dt = get_default_dtype() if dtype is None else as_dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name}: dtype must be float32 or float64, got {dt}")
    return dt


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: the keys it did not find and the keys it did not expect."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class NameClashError(KeyError, ValueError):
    """A bad name for a parameter, buffer or submodule: a KeyError, as PyTorch raises, and a ValueError."""

    def __str__(self):
        return str(self.args[0])


def _check_name(module, name, kind, registry):
    """PyTorch's checks: a str, not empty, no ".", and not the name of something else the module has
    (registering a buffer named "weight" must not silently drop the weight parameter)."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise NameClashError(f'{kind} name can\'t be empty or contain ".", got {name!r}')
    if hasattr(type(module), name):
        raise NameClashError(f"{kind} name {name!r} clashes with an attribute of {type(module).__name__}")
    if name not in module.__dict__.get(registry, {}) and hasattr(module, name):
        raise NameClashError(f"attribute {name!r} already exists in {type(module).__name__}; cannot register a "
                             f"{kind} of that name")


class Module:
    """Base class of layers and models: subclass it, assign parts in __init__, define forward."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_module_hooks", None)

    # --- registration ---------------------------------------------------------------------------
    def _registry(self, name):
        registry = self.__dict__.get(name)
        if registry is None:
            raise AttributeError("cannot assign parameters, modules or buffers before Module.__init__() call")
        return registry

    def _discard(self, name, keep=None):
        """Forget name everywhere but in the registry keep (so a re-assignment keeps its place)."""
        self.__dict__.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry != keep:
                self.__dict__.get(registry, {}).pop(name, None)
        self.__dict__.get("_non_persistent", set()).discard(name)

    def register_parameter(self, name, param):
        _check_name(self, name, "parameter", "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(nn.Parameter or None expected)")
        params = self._registry("_parameters")
        self._discard(name, keep="_parameters")
        params[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is part of the module's state (state_dict, to()) but not a parameter."""
        _check_name(self, name, "buffer", "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} (Tensor or None expected)")
        buffers = self._registry("_buffers")
        self._discard(name, keep="_buffers")
        buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        _check_name(self, name, "module", "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass (module {name!r})")
        modules = self._registry("_modules")
        self._discard(name, keep="_modules")
        modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):  # an assignment replaces whatever had the name, as in PyTorch
            self._discard(name, keep="_parameters")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._discard(name, keep="_modules")
            self.add_module(name, value)
        elif name in self.__dict__.get("_parameters", ()):
            self.register_parameter(name, value)
        elif name in self.__dict__.get("_modules", ()):
            self.add_module(name, value)
        elif name in self.__dict__.get("_buffers", ()):
            self.register_buffer(name, value, name not in self._non_persistent)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if any(name in self.__dict__.get(r, ()) for r in ("_parameters", "_buffers", "_modules")):
            self._discard(name)
        else:
            object.__delattr__(self, name)

    # --- traversal ------------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, pre-order."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self, remove_duplicate=True):
        for _, module in self.named_modules(remove_duplicate=remove_duplicate):
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter): own parameters in registration order, then each child's."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn):
        """Call fn(module) on every child (recursively) and then on self, as in PyTorch's init idiom."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- state ----------------------------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """name -> Tensor for every parameter and persistent buffer; detached, sharing their arrays."""
        out = {} if destination is None else destination
        for name, param in self._parameters.items():
            if param is not None:
                out[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent:
                out[prefix + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=out, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values (Tensors, NumPy arrays, or e.g. PyTorch tensors) into parameters and buffers,
        cast to their dtypes (assign=True: take the values' arrays and dtypes instead, as PyTorch's).

        Everything is validated before anything is written: missing or unexpected keys (when strict)
        and shape mismatches (always) raise RuntimeError listing every offending key, and leave the
        module unchanged. Returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of name -> Tensor, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays, mismatched, bad_types = {}, [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = to_numpy(value)
            if not isinstance(arr, np.ndarray):
                bad_types.append(f"{key} ({type(value).__name__})")
            elif arr.dtype.kind not in "biuf":
                bad_types.append(f"{key} (array of {arr.dtype})")
            elif arr.shape != target.shape:
                mismatched.append(f"size mismatch for {key}: copying a param with shape {arr.shape} from "
                                  f"checkpoint, the shape in current model is {target.shape}.")
            else:
                arrays[key] = arr if assign else arr.astype(target.dtype, copy=False)
        if bad_types:
            raise TypeError("load_state_dict: values must be Tensors or numeric NumPy arrays; got "
                            + ", ".join(bad_types))
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        errors += mismatched
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for key, arr in arrays.items():
                if assign:
                    own[key]._data = np.asarray(arr)
                else:
                    own[key]._data[...] = arr
        return _IncompatibleKeys(missing, unexpected)

    # --- modes, gradients, dtype ----------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout active) on this module and every descendant."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop (or zero) every parameter's gradient; a new zero tensor, since .grad may be shared."""
        for param in self.parameters():
            if param.grad is not None:
                param.grad = None if set_to_none else Tensor._make(np.zeros_like(param.grad._data))

    def _apply(self, fn):
        """Replace the arrays of parameters (and their grads) and buffers by fn(array), in place."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param._data = fn(param._data)
                    if param.grad is not None:
                        param.grad = Tensor._make(fn(param.grad._data))
            for buf in module._buffers.values():
                if buf is not None:
                    buf._data = fn(buf._data)
        return self

    def to(self, *args, dtype=None, device=None):
        """to(dtype), to(device), to(device, dtype): convert floating parameters and buffers to dtype,
        keeping the same Parameter objects (the CPU is the only device)."""
        for a in args:
            if _is_device(a):
                device = a
            else:
                dtype = a
        check_device(device)
        if dtype is None:
            return self
        dt = float_dtype(dtype, "Module.to")
        return self._apply(lambda a: a.astype(dt, copy=False) if a.dtype.kind == "f" else a)

    def cpu(self):
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # --- calling and printing -------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        if self.__dict__.get("_module_hooks"):
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # --- hooks (nn/hooks.py) ----------------------------------------------------------------------
    def _add_hook(self, kind, hook, prepend, with_kwargs=False):
        if not callable(hook):
            raise TypeError(f"register_{kind}_hook: expected a callable, got {type(hook).__name__}")
        if self.__dict__.get("_module_hooks") is None:
            kinds = ("forward_pre", "forward", "backward_pre", "backward")
            object.__setattr__(self, "_module_hooks", {k: {} for k in kinds})
        hooks = self._module_hooks[kind]
        key = next(_hook_ids)
        entries = {key: (hook, with_kwargs), **hooks} if prepend else {**hooks, key: (hook, with_kwargs)}
        hooks.clear()
        hooks.update(entries)
        return HookHandle(lambda: hooks.pop(key, None))

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) before each forward (with_kwargs: hook(module, args, kwargs)); a result
        that is not None replaces args (a tuple, or one value; with_kwargs: an (args, kwargs) pair)."""
        return self._add_hook("forward_pre", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """hook(module, args, output) after each forward (with_kwargs: hook(module, args, kwargs,
        output)); a result that is not None replaces the output."""
        return self._add_hook("forward", hook, prepend, with_kwargs)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) when the gradients of the outputs are known; a result that is not
        None replaces them."""
        return self._add_hook("backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) when the gradients of the tensor inputs are known
        (None for inputs that need none); a result that is not None replaces grad_input."""
        return self._add_hook("backward", hook, prepend)

    def get_submodule(self, target):
        """The module at the dotted path target ("" is this module)."""
        module = self
        for name in target.split(".") if target else ():
            child = module._modules.get(name)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {name!r} (in {target!r})")
            module = child
        return module

    def get_parameter(self, target):
        """The parameter at the dotted path target."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at the dotted path target."""
        return self._get_member(target, "_buffers", "buffer")

    def _get_member(self, target, registry, kind):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in getattr(module, registry):
            raise AttributeError(f"{type(module).__name__} has no {kind} {name!r} (in {target!r})")
        return getattr(module, registry)[name]

    def extra_repr(self):
        """The text inside this module's parentheses in repr (its constructor arguments)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        lines = extra + children
        if not lines:
            return f"{type(self).__name__}()"
        if len(extra) == 1 and not children:
            return f"{type(self).__name__}({extra[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class _Container(Module):
    """Modules held under the names "0", "1", ...: length, iteration, append, extend, insert, pop,
    item assignment and deletion (which renumber, as PyTorch's), + and +=."""

    def _position(self, idx):
        n = len(self)
        if not isinstance(idx, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__} index {idx} is out of range for length {n}")
        return int(idx) % n

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def _renumber(self, modules):
        self._modules.clear()
        self.extend(modules)

    def __setitem__(self, idx, module):
        self.add_module(list(self._modules)[self._position(idx)], module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else self._position(idx)]
        self._renumber(modules)

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.insert: expected a Module, got {type(module).__name__}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, idx=-1):
        module = self[idx]
        del self[idx]
        return module

    def __add__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        return type(self)().extend([*self, *other])

    def __iadd__(self, other):
        return self.extend(other)


class Sequential(_Container):
    """Modules called in order, each on the previous one's output; named "0", "1", ... or by a dict."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            self.extend(modules)

    def forward(self, input):
        for module in self:
            input = module(input)
        return input

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(dict(items[idx]))
        return items[self._position(idx)][1]


class ModuleList(_Container):
    """A list of modules, registered as "0", "1", ... so their parameters are found; no forward."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or [])

    def __getitem__(self, idx):
        modules = list(self._modules.values())
        return ModuleList(modules[idx]) if isinstance(idx, slice) else modules[self._position(idx)]
