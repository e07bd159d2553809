"""Modules that hold PyTorch's constructor arguments and call a function of nn.functional with
them: the activations, distances and losses beyond layers.py and losses.py, made by one factory
(module_of: the constructor takes the function's own keyword arguments, in its order; tensors among
them are buffers; a loss's deprecated size_average/reduce become its reduction once), and the
padding layers (ZeroPad1d ... CircularPad3d)."""
import inspect

from . import activations, distances, losses, margin_losses
from .losses import legacy_reduction
from .module import Module
from .padding import pad
from ..tensor import Tensor

_LEGACY = ("size_average", "reduce")


def module_of(fn, name, arg_names):
    """A Module class whose forward(*inputs) is fn(*inputs, **the constructor's arguments)."""
    signature = inspect.Signature([inspect.signature(fn).parameters[a].replace(
        kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in arg_names])
    stored = [a for a in arg_names if a not in _LEGACY]

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{name}: {e}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        legacy = [values.pop(a) for a in _LEGACY if a in values]
        if any(v is not None for v in legacy):
            values["reduction"] = legacy_reduction(*legacy, values["reduction"], name)
        for arg, value in values.items():
            if isinstance(value, Tensor):
                self.register_buffer(arg, value)
            else:
                object.__setattr__(self, arg, value)

    def forward(self, *inputs):
        return fn(*inputs, **{a: getattr(self, a) for a in stored})

    def extra_repr(self):
        return ", ".join(f"{a}={getattr(self, a)!r}" for a in stored if not isinstance(getattr(self, a), Tensor))

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": fn.__doc__, "__module__": __name__, "__qualname__": name})


SELU = module_of(activations.selu, "SELU", ("inplace",))
CELU = module_of(activations.celu, "CELU", ("alpha", "inplace"))
Mish = module_of(activations.mish, "Mish", ("inplace",))
Hardsigmoid = module_of(activations.hardsigmoid, "Hardsigmoid", ("inplace",))
Hardswish = module_of(activations.hardswish, "Hardswish", ("inplace",))
Softshrink = module_of(activations.softshrink, "Softshrink", ("lambd",))
Hardshrink = module_of(activations.hardshrink, "Hardshrink", ("lambd",))
Threshold = module_of(activations.threshold, "Threshold", ("threshold", "value", "inplace"))
GLU = module_of(activations.glu, "GLU", ("dim",))
CosineSimilarity = module_of(distances.cosine_similarity, "CosineSimilarity", ("dim", "eps"))
PairwiseDistance = module_of(distances.pairwise_distance, "PairwiseDistance", ("p", "eps", "keepdim"))

_REDUCE = ("size_average", "reduce", "reduction")
KLDivLoss = module_of(losses.kl_div, "KLDivLoss", (*_REDUCE, "log_target"))
PoissonNLLLoss = module_of(losses.poisson_nll_loss, "PoissonNLLLoss",
                           ("log_input", "full", "size_average", "eps", "reduce", "reduction"))
GaussianNLLLoss = module_of(losses.gaussian_nll_loss, "GaussianNLLLoss", ("full", "eps", "reduction"))
MarginRankingLoss = module_of(margin_losses.margin_ranking_loss, "MarginRankingLoss", ("margin", *_REDUCE))
HingeEmbeddingLoss = module_of(margin_losses.hinge_embedding_loss, "HingeEmbeddingLoss", ("margin", *_REDUCE))
CosineEmbeddingLoss = module_of(margin_losses.cosine_embedding_loss, "CosineEmbeddingLoss", ("margin", *_REDUCE))
SoftMarginLoss = module_of(margin_losses.soft_margin_loss, "SoftMarginLoss", _REDUCE)
MultiLabelSoftMarginLoss = module_of(margin_losses.multilabel_soft_margin_loss, "MultiLabelSoftMarginLoss",
                                     ("weight", *_REDUCE))
TripletMarginLoss = module_of(margin_losses.triplet_margin_loss, "TripletMarginLoss",
                              ("margin", "p", "eps", "swap", *_REDUCE))


class _Pad(Module):
    """padding: one int for every side, or PyTorch's (left, right, top, bottom, front, back) tuple."""

    dims, mode = 1, "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a {2 * self.dims}-tuple, "
                             f"got {padding!r}")
        self.padding, self.value = padding, value

    def forward(self, input):
        return pad(input, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


def _pad_class(name, dims, mode, zero=False):
    body = {"dims": dims, "mode": mode, "__module__": __name__, "__qualname__": name,
            "__doc__": f"F.pad of the last {dims} dims, mode {mode!r}{' with zeros' if zero else ''}."}
    if zero:
        body["__init__"] = lambda self, padding: _Pad.__init__(self, padding, 0.0)
    elif mode != "constant":
        body["__init__"] = lambda self, padding: _Pad.__init__(self, padding)
    return type(name, (_Pad,), body)


ZeroPad1d, ZeroPad2d, ZeroPad3d = (_pad_class(f"ZeroPad{d}d", d, "constant", zero=True) for d in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (_pad_class(f"ConstantPad{d}d", d, "constant") for d in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (_pad_class(f"ReflectionPad{d}d", d, "reflect") for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (_pad_class(f"ReplicationPad{d}d", d, "replicate")
                                                        for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (_pad_class(f"CircularPad{d}d", d, "circular") for d in (1, 2, 3))
