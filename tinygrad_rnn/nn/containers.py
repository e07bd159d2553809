"""The keyed and the parameter containers, with PyTorch's semantics: ModuleDict (modules by name),
ParameterList (parameters registered as "0", "1", ...) and ParameterDict (parameters by name). Plain
tensors put into the parameter containers become Parameters, as in PyTorch."""
import collections
from collections.abc import Mapping

from .module import Module, Parameter, _Container
from ..tensor import Tensor


def _pairs(values, name):
    if isinstance(values, (Mapping, ModuleDict, ParameterDict)):
        return list(values.items())
    pairs = []
    for k, item in enumerate(values):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"{name}.update: element {k} should be a (key, value) pair, got {type(item).__name__}")
        pairs.append(tuple(item))
    return pairs


class _Keyed(Module):
    """A dict of the module's registry `_store` (what its values are registered as)."""

    _store = "_modules"

    def _items(self):
        return self.__dict__[self._store]

    def __getitem__(self, key):
        return self._items()[key]

    def __delitem__(self, key):
        del self._items()[key]

    def __len__(self):
        return len(self._items())

    def __iter__(self):
        return iter(self._items())

    def __contains__(self, key):
        return key in self._items()

    def keys(self):
        return self._items().keys()

    def items(self):
        return self._items().items()

    def values(self):
        return self._items().values()

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def clear(self):
        self._items().clear()

    def update(self, values):
        for key, value in _pairs(values, type(self).__name__):
            self[key] = value


class ModuleDict(_Keyed):
    """Modules registered under their keys, in insertion order; no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        self.add_module(key, module)


def _parameter(value):
    return value if isinstance(value, Parameter) or value is None else Parameter(
        value if isinstance(value, Tensor) else Tensor(value))


class ParameterDict(_Keyed):
    """Parameters registered under their keys, in insertion order."""

    _store = "_parameters"

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def update(self, values):
        """As PyTorch's: a plain mapping is taken in sorted key order, an ordered one as it is."""
        if isinstance(values, Mapping) and not isinstance(values, (collections.OrderedDict, ParameterDict)):
            values = sorted(values.items())
        super().update(values)

    def __setitem__(self, key, value):
        self.register_parameter(key, _parameter(value))


class ParameterList(Module):
    """Parameters registered as "0", "1", ...: indexing (slices give a ParameterList), iteration,
    append, extend and +=."""

    def __init__(self, values=None):
        super().__init__()
        self.extend(values or [])

    def _position(self, idx):
        return str(_Container._position(self, idx))  # the modules' containers' checks

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self)[idx])
        return self._parameters[self._position(idx)]

    def __setitem__(self, idx, value):
        self.register_parameter(self._position(idx), _parameter(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value):
        self.register_parameter(str(len(self)), _parameter(value))
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values):
        return self.extend(values)

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter containing: [{type(p).__name__} of size {tuple(p.shape)}]"
                         for k, p in self._parameters.items())
