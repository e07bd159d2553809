"""Optimizer base: parameter groups, per-parameter state, step, zero_grad, state_dict/load_state_dict.

A subclass gives its defaults, the names of options that must be >= 0, `_init_state(p, group)` (the
fresh state of one parameter, as NumPy arrays and numbers) and `_update(p, g, state, group)`, which
updates the parameter's array p in place from its gradient array g. Updates work on `._data` arrays,
so they record no graph; gradients are never written to. `step` and `load_state_dict` check
everything first (group options, gradient shapes and dtypes, that each state holds every entry
`_init_state` makes) so that a refusal leaves every parameter and every state as it was.
"""
import collections
import numbers

import numpy as np

from .. import autograd
from ..tensor import Tensor


class Optimizer:
    """Base class: holds `param_groups` (dicts of options plus 'params'), `defaults` and `state`."""

    _nonnegative = ("lr",)
    _scalar_state = ("step",)  # state entries that are numbers, not arrays of the parameter's shape

    def __init__(self, params, defaults):
        self._validate(defaults)
        self.defaults = dict(defaults)
        self.state = collections.defaultdict(dict)  # opt.state[p] is {} before p's first step, as in PyTorch
        self.param_groups = []
        if isinstance(params, Tensor) or not _is_iterable(params):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])

    # --- parameter groups -----------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a dict with 'params' and any per-group options; missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param group must have a 'params' entry")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs; use a list")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"optimizer can only optimize floating-point Tensors, got {p.dtype}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("a parameter group contains the same parameter more than once")
        if not set(ids).isdisjoint(id(p) for g in self.param_groups for p in g["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {"params": params, **self.defaults,
                 **{k: v for k, v in param_group.items() if k != "params"}}
        try:
            self._validate(group)
        except ValueError as e:
            raise ValueError(f"{e} (parameter group {len(self.param_groups)})") from None
        self.param_groups.append(group)

    def _validate(self, options):
        """Raise if an option is out of range (TypeError for a non-number, ValueError for a bad value)."""
        name = type(self).__name__
        for key in self._nonnegative:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name}: {key} must be a number, got {type(value).__name__}")
            if not value >= 0:
                raise ValueError(f"{name}: invalid {key} {value!r}, expected {key} >= 0")

    # --- stepping -------------------------------------------------------------------------------
    def step(self, closure=None):
        """One update of every parameter whose .grad is set; returns closure() (run with grad on)."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        name, todo = type(self).__name__, []
        for i, group in enumerate(self.param_groups):
            try:
                self._validate(group)
            except ValueError as e:
                raise ValueError(f"{name}.step: {e} (parameter group {i})") from None
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad._data
                    if g.shape != p._data.shape:
                        raise ValueError(f"{name}.step: a parameter of shape {p.shape} has a "
                                         f"gradient of shape {g.shape}")
                    if g.dtype.kind != "f":
                        raise TypeError(f"{name}.step: a parameter of dtype {p.dtype} has a gradient of "
                                        f"dtype {g.dtype}; expected a real floating-point gradient")
                    if self.state.get(p):
                        self._check_state(self.state[p], p, group, f"{name}.step: the state of a parameter")
                    todo.append((p, g, group))
        for p, g, group in todo:
            state = self.state.get(p)
            if not state:
                state = self.state[p] = self._init_state(p._data, group)
            self._update(p._data, g, state, group)
        return loss

    def _init_state(self, p, group):
        return {}

    def _check_state(self, state, p, group, where):
        """ValueError unless state holds every entry a fresh state for this group has."""
        missing = [k for k in self._init_state(np.empty((0,), p.dtype), group) if k not in state]
        if missing:
            raise ValueError(f"{where} of shape {p.shape} lacks {', '.join(map(repr, missing))} "
                             f"(the {type(self).__name__} options of its group need it)")

    def _update(self, p, g, state, group):
        raise NotImplementedError

    def zero_grad(self, set_to_none=True):
        """Clear gradients: None (default), or zeros in a fresh array (shared arrays are never written)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else Tensor(np.zeros_like(p.grad._data))

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: array or number}}, 'param_groups': [{options, 'params': [index]}]}.

        Parameters are numbered in group order from 0. Arrays are copies; tuples become lists.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: list(v) if isinstance(v, tuple) else v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore from state_dict(), also as read back from .npz (str keys, arrays or Tensors for lists).

        Everything is checked before anything changes: group count and sizes, state indices and shapes.
        """
        saved_groups = _as_list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the optimizer "
                             f"has {len(self.param_groups)}")
        by_index, group_of = {}, {}
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            indices = [int(k) for k in np.asarray(_unwrap(saved["params"])).reshape(-1)]
            if len(indices) != len(group["params"]):
                raise ValueError(f"loaded parameter group {i} has {len(indices)} parameters, the optimizer's "
                                 f"has {len(group['params'])}")
            by_index.update(zip(indices, group["params"]))
            options = {k: _plain(v, self.defaults.get(k)) for k, v in saved.items() if k != "params"}
            new_group = {"params": group["params"], **self.defaults, **options}
            self._validate(new_group)
            new_groups.append(new_group)
            group_of.update((id(p), new_group) for p in group["params"])
        new_state = {}
        for key, saved in state_dict.get("state", {}).items():
            if int(key) not in by_index:
                raise ValueError(f"loaded state refers to parameter {key}, which no parameter group holds")
            p = by_index[int(key)]
            if not isinstance(saved, dict):
                raise ValueError(f"loaded state of parameter {key} is a {type(saved).__name__}, expected a dict")
            new_state[p] = {name: _state_value(name, value, p, key, self._scalar_state)
                            for name, value in saved.items()}
            self._check_state(new_state[p], p, group_of[id(p)], f"loaded state of parameter {key}")
        for group, new_group in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new_group)
        self.state = collections.defaultdict(dict, new_state)


def check_betas(betas, name):
    """Adam's family: a pair of decay rates in [0, 1)."""
    if len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair, got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta!r}, expected 0 <= beta < 1")


def grad_term(p, g, weight_decay, maximize):
    """The gradient the update uses, ±g + weight_decay * p. A new array unless it is g itself."""
    if weight_decay:
        d = np.multiply(p, weight_decay)
        return np.subtract(d, g, out=d) if maximize else np.add(d, g, out=d)
    return np.negative(g) if maximize else g


def lerp_(a, b, w, tmp):
    """a <- a + w (b - a) in place, from the nearer end as torch.lerp does; tmp is scratch."""
    np.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1 - w
        np.subtract(b, tmp, out=a)


def _is_iterable(obj):
    try:
        iter(obj)
    except TypeError:
        return False
    return True


def _unwrap(value):
    return value._data if isinstance(value, Tensor) else value


def _as_list(value):
    """A list, or a dict keyed '0', '1', ... (how some formats store lists) as a list."""
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=int)]
    return list(value)


def _plain(value, default):
    """A group option as a Python value: 0-d arrays to scalars, arrays to lists (tuples if the default is)."""
    value = _unwrap(value)
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, list) and isinstance(default, tuple):
        value = tuple(value)
    return value


def _state_value(name, value, p, key, scalars):
    value = _unwrap(value)
    if name in scalars:
        return int(value) if name == "step" else float(value)
    arr = np.array(value, dtype=p.dtype)
    if arr.shape != p.shape:
        raise ValueError(f"loaded state '{name}' of parameter {key} has shape {arr.shape}, the parameter "
                         f"has shape {p.shape}")
    return arr
