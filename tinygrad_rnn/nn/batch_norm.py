"""Batch normalisation (Ioffe & Szegedy 2015), as PyTorch's F.batch_norm and BatchNorm1d/2d/3d:
(x - mean) / √(var + eps) · weight + bias per channel (dim 1), with the batch's statistics (biased
variance) in training and the running ones in eval. Training updates the running statistics in
place: r = (1 - momentum) r + momentum · batch statistic, the variance unbiased (n / (n - 1)), or
their cumulative average when momentum is None. Composed of ops, so twice differentiable."""
import numpy as np

from ..autograd import no_grad
from ..ops.elementwise import to_tensor
from ..tensor import ShapeError, Tensor
from . import init
from .module import Module, Parameter, float_dtype


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    x = to_tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, C) + (1,) * (x.ndim - 2)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ShapeError(f"batch_norm: {name} must have shape ({C},) for {C} channels, got {tuple(t.shape)}")
    if momentum is None:
        raise TypeError("batch_norm: momentum must be a number (the modules take None: a cumulative average)")
    if training:
        n = x.numel() // C
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"shape {x.shape}")
        mean = x.mean(dim=dims, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with no_grad():
                m = 1.0 if momentum is None else momentum
                running_mean.mul_(1 - m).add_(mean.reshape(C).detach() * m)
                running_var.mul_(1 - m).add_(var.reshape(C).detach() * (m * n / (n - 1)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not training")
        mean, var = running_mean.reshape(*shape), running_var.reshape(*shape)
        centered = x - mean
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(*shape)
    return y if bias is None else y + bias.reshape(*shape)


class _BatchNorm(Module):
    dims = ()  # the input ranks the layer takes

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        dt = float_dtype(dtype, type(self).__name__)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(num_features, dt))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(num_features, dt)))
            self.register_buffer("running_var", Tensor._make(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor._make(np.zeros((), np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        if input.ndim not in self.dims:
            raise ShapeError(f"{type(self).__name__}: expected {' or '.join(f'{d}-D' for d in self.dims)} input, "
                             f"got shape {tuple(input.shape)}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data[...] += 1
            if momentum is None:  # a cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked._data)
        tracked = self.track_running_stats
        momentum = 0.0 if momentum is None else momentum  # unused: eval, or no running statistics
        return batch_norm(input, self.running_mean if tracked else None, self.running_var if tracked else None,
                          self.weight, self.bias, self.training or not tracked, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs."""
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs."""
    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) inputs."""
    dims = (5,)
