"""Models to and from PyTorch: the equivalent torch.nn module, same parameter names, same weights.

`to_torch(module)` builds the torch.nn module tree that computes what `module` computes, and
`from_torch(torch_module)` the reverse. Supported: Linear, Embedding, LayerNorm, Dropout, the
parameter-free activations (Tanh, ReLU, Softmax, ... when this library has them), Sequential,
ModuleList, RNN/LSTM/GRU (every constructor option PyTorch has), RNNCell/LSTMCell/GRUCell, and any
pair of model classes registered with `register` (the apps' character language model registers itself
with a small torch.nn.Module twin of the same parts and forward).
Weights are copied exactly (a round trip gives the same bits); train/eval mode is kept. A module
without an equivalent (a custom cell, a subclass with its own forward) raises a TypeError naming it.
torch is imported only inside these functions: the library does not need it.
"""
import inspect

import numpy as np

from . import nn
from .tensor import get_default_dtype

ACTIVATIONS = ("Identity", "Flatten", "Tanh", "Sigmoid", "ReLU", "Softmax", "LogSoftmax", "GELU", "ELU",
               "LeakyReLU", "Softplus", "SiLU", "Hardtanh", "ReLU6", "Softsign", "LogSigmoid")
RECURRENT = ("RNN", "LSTM", "GRU")
CELLS = ("RNNCell", "LSTMCell", "GRUCell")


def _recurrent_config(m):
    kw = dict(input_size=m.input_size, hidden_size=m.hidden_size, num_layers=m.num_layers, bias=bool(m.bias),
              batch_first=bool(m.batch_first), dropout=float(m.dropout), bidirectional=bool(m.bidirectional))
    if type(m).__name__ == "RNN":
        kw["nonlinearity"] = m.nonlinearity
    if getattr(m, "proj_size", 0):
        kw["proj_size"] = int(m.proj_size)
    return kw


def _cell_config(m):
    kw = dict(input_size=m.input_size, hidden_size=m.hidden_size, bias=bool(m.bias))
    if type(m).__name__ == "RNNCell":
        kw["nonlinearity"] = m.nonlinearity
    return kw


def _embedding_config(m):
    if getattr(m, "max_norm", None) is not None or getattr(m, "scale_grad_by_freq", False):
        raise ValueError("max_norm and scale_grad_by_freq have no equivalent here")
    return dict(num_embeddings=m.num_embeddings, embedding_dim=m.embedding_dim, padding_idx=m.padding_idx)


# name -> the constructor arguments read from a module of either library (their attribute names agree)
CONFIGS = {
    "Linear": lambda m: dict(in_features=m.in_features, out_features=m.out_features, bias=m.bias is not None),
    "Embedding": _embedding_config,
    "LayerNorm": lambda m: dict(normalized_shape=tuple(m.normalized_shape), eps=m.eps,
                                elementwise_affine=m.elementwise_affine, bias=m.bias is not None),
    "Dropout": lambda m: dict(p=m.p),
    **{name: _recurrent_config for name in RECURRENT},
    **{name: _cell_config for name in CELLS},
}
TAKES_DTYPE = {"Linear", "Embedding", "LayerNorm", *RECURRENT, *CELLS}
TAKES_IMPL = set(RECURRENT)
REGISTERED = {}  # name -> (our class, a function returning the torch class)
CONTAINERS = ("Sequential", "ModuleList")


def _activation_config(source, target_cls):
    """The target constructor's named arguments that the source module holds as attributes."""
    params = inspect.signature(target_cls.__init__).parameters.values()
    return {p.name: getattr(source, p.name) for p in params
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in ("self", "inplace") and hasattr(source, p.name)}


def register(name, ours, torch_class, config, takes_dtype=True, takes_impl=False):
    """Make to_torch/from_torch convert between `ours` (a tinygrad_rnn.nn.Module class) and the class
    `torch_class()` returns (called on first use, so torch stays optional). Both must have the same
    constructor and state_dict names; config(module) gives the constructor arguments from a module of
    either side, and the converter adds dtype= (and impl= for ours when takes_impl)."""
    REGISTERED[name] = (ours, torch_class)
    CONFIGS[name] = config
    (TAKES_DTYPE.add if takes_dtype else TAKES_DTYPE.discard)(name)
    (TAKES_IMPL.add if takes_impl else TAKES_IMPL.discard)(name)


def _unsupported(direction, module, path, names):
    where = f"module {path!r}" if path else "the model"
    return TypeError(f"{direction}: {where} is a {type(module).__module__}.{type(module).__qualname__}, which has "
                     f"no equivalent on the other side (supported: {', '.join(names)}; a subclass or custom "
                     "module needs its own conversion)")


def _convert(module, path, direction, source_classes, target_classes, to_target_array, dtype_of, extra):
    """The target-side module for `module` (recursing into containers), weights copied exactly."""
    name = next((n for n, cls in source_classes.items() if type(module) is cls), None)
    if name is None:
        raise _unsupported(direction, module, path, sorted(source_classes))
    target_cls = target_classes[name]
    if name in CONTAINERS:
        children = [_convert(child, f"{path}.{key}" if path else key, direction, source_classes, target_classes,
                             to_target_array, dtype_of, extra) for key, child in module.named_children()]
        target = target_cls(*children) if name == "Sequential" else target_cls(children)
    else:
        try:
            kw = CONFIGS[name](module) if name in CONFIGS else _activation_config(module, target_cls)
            if name in TAKES_DTYPE:
                kw["dtype"] = dtype_of(module)
            if name in TAKES_IMPL:
                kw.update(extra)
            target = target_cls(**kw)
            target.load_state_dict({k: to_target_array(v) for k, v in module.state_dict().items()}, strict=True)
        except (TypeError, ValueError, RuntimeError) as e:
            raise type(e)(f"{direction}: cannot convert {f'module {path!r}' if path else 'the model'} "
                          f"({name}): {' '.join(str(e).split())}") from None
    return target


def _copy_modes(source, target):
    """Each target module takes its source module's train/eval mode, each parameter its requires_grad
    (a frozen embedding stays frozen); the two trees correspond name for name."""
    for s, t in zip(source.modules(), target.modules()):
        t.training = s.training
    frozen = {name for name, p in source.named_parameters() if not p.requires_grad}
    for name, p in target.named_parameters():
        p.requires_grad_(name not in frozen)
    return target


def _our_classes():
    classes = {n: getattr(nn, n) for n in ("Linear", "Embedding", "LayerNorm", "Dropout") + RECURRENT + CELLS
               + CONTAINERS + ACTIVATIONS if hasattr(nn, n)}
    return {**classes, **{name: ours for name, (ours, _) in REGISTERED.items()}}


def _torch_classes(torch, names):
    classes = {n: getattr(torch.nn, n) for n in names if n not in REGISTERED}
    return {**classes, **{name: torch_class() for name, (_, torch_class) in REGISTERED.items()}}


def to_torch(module):
    """The equivalent torch.nn module (its dtype, weights and train/eval mode), e.g. for distributed
    training or the PyTorch ecosystem. TypeError naming any part without an equivalent."""
    import torch

    if not isinstance(module, nn.Module):
        raise TypeError(f"to_torch: expected a tinygrad_rnn.nn.Module, got {type(module).__name__}")
    ours = _our_classes()

    def dtype_of(m):
        params = list(m.parameters())
        return getattr(torch, (params[0].dtype if params else np.dtype(get_default_dtype())).name)

    target = _convert(module, "", "to_torch", ours, _torch_classes(torch, ours),
                      lambda v: torch.from_numpy(v.detach().numpy().copy()), dtype_of, {})
    return _copy_modes(module, target)


def from_torch(torch_module, impl="fused"):
    """Our equivalent of a torch.nn module (CPU copy of its weights, dtype and mode kept); recurrent
    layers use `impl` ("fused" or "unrolled"). TypeError naming any part without an equivalent."""
    import torch

    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(torch_module).__name__}")
    ours = _our_classes()

    def dtype_of(m):
        params = list(m.parameters())
        dtype = params[0].dtype if params else torch.get_default_dtype()
        return np.dtype(str(dtype).removeprefix("torch."))

    target = _convert(torch_module, "", "from_torch", _torch_classes(torch, ours), ours,
                      lambda v: v.detach().cpu().numpy().copy(), dtype_of, {"impl": impl})
    return _copy_modes(torch_module, target)
