"""1-D convolution and pooling, as PyTorch's F.conv1d / nn.Conv1d, F.max_pool1d / nn.MaxPool1d,
F.avg_pool1d / nn.AvgPool1d and nn.AdaptiveAvgPool1d (the front ends of speech and text models).

Composed of ops: the (padded) input's windows are gathered by one index (N, C, L_out, K), so their
gradient is the engine's scatter-add; a convolution is then one matmul per group. Shapes: input
(N, C, L) or unbatched (C, L); weight (C_out, C_in / groups, K)."""
import math

import numpy as np

from ..ops import stack
from ..ops.elementwise import to_tensor
from ..tensor import ShapeError, Tensor
from . import init
from .module import Module, Parameter, float_dtype
from .padding import pad


def _single(value, name):
    value = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int (or a 1-tuple), got {value!r}")
    return int(value)


def _windows(x, kernel, stride, dilation, length):
    """x (N, C, L) -> (N, C, length, kernel): window i starts at i·stride, taps dilation apart."""
    index = np.arange(length)[:, None] * stride + np.arange(kernel)[None, :] * dilation
    return x[:, :, index]


def _batched(input, name):
    x = to_tensor(input)
    if x.ndim not in (2, 3):
        raise ShapeError(f"{name}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {x.shape}")
    return (x, True) if x.ndim == 3 else (x.unsqueeze(0), False)


def _conv_padding(padding, kernel, stride, dilation, name):
    """(left, right) zeros or padded positions: an int each side, 'valid' none, 'same' the output as
    long as the input (stride 1; the odd one more on the right, as PyTorch)."""
    if padding == "same":
        if stride != 1:
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        total = dilation * (kernel - 1)
        return total // 2, total - total // 2
    if padding == "valid":
        return 0, 0
    if isinstance(padding, str):
        raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of 'valid', 'same'")
    amount = _single(padding, f"{name}: padding")
    if amount < 0:
        raise ValueError(f"{name}: negative padding is not supported, got {amount}")
    return amount, amount


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, batched = _batched(input, "conv1d")
    stride, dilation, groups = _single(stride, "conv1d: stride"), _single(dilation, "conv1d: dilation"), int(groups)
    out_channels, per_group, K = weight.shape
    N, C, L = x.shape
    if C != per_group * groups or out_channels % groups:
        raise ShapeError(f"conv1d: input of {C} channels and weight {tuple(weight.shape)} do not match "
                         f"{groups} group(s)")
    left, right = _conv_padding(padding, K, stride, dilation, "conv1d")
    if left or right:
        x = pad(x, (left, right))
    length = (x.shape[2] - dilation * (K - 1) - 1) // stride + 1
    if length <= 0:
        raise ShapeError(f"conv1d: the (padded) input of length {x.shape[2]} is shorter than the kernel's "
                         f"reach {dilation * (K - 1) + 1}")
    cols = _windows(x, K, stride, dilation, length)  # (N, C, length, K)
    cols = cols.reshape(N, groups, per_group, length, K).permute(0, 1, 3, 2, 4).reshape(
        N, groups, length, per_group * K)
    w = weight.reshape(groups, out_channels // groups, per_group * K).transpose(1, 2)
    out = (cols @ w).permute(0, 1, 3, 2).reshape(N, out_channels, length)
    if bias is not None:
        out = out + bias.reshape(out_channels, 1)
    return out if batched else out.squeeze(0)


def _pool_length(L, kernel, stride, padding, dilation, ceil_mode):
    span = L + 2 * padding - dilation * (kernel - 1) - 1
    length = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (length - 1) * stride >= L + padding:  # the last window must start inside
        length -= 1
    return length


def _pool_args(input, kernel_size, stride, padding, dilation, name):
    x, batched = _batched(input, name)
    kernel = _single(kernel_size, f"{name}: kernel_size")
    stride = kernel if stride is None or stride == () else _single(stride, f"{name}: stride")
    padding, dilation = _single(padding, f"{name}: padding"), _single(dilation, f"{name}: dilation")
    if padding > kernel // 2:
        raise ValueError(f"{name}: pad should be at most half of effective kernel size, got padding={padding} "
                         f"and kernel_size={kernel}")
    return x, batched, kernel, stride, padding, dilation


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The largest value of each window (padding never wins); return_indices adds their positions."""
    x, batched, K, stride, padding, dilation = _pool_args(input, kernel_size, stride, padding, dilation,
                                                          "max_pool1d")
    L = x.shape[2]
    length = _pool_length(L, K, stride, padding, dilation, ceil_mode)
    reach = (length - 1) * stride + dilation * (K - 1) + 1
    padded = pad(x, (padding, max(reach - L - padding, 0)), value=float("-inf"))
    values, taps = _windows(padded, K, stride, dilation, length).max(dim=-1)
    if not batched:
        values = values.squeeze(0)
    if not return_indices:
        return values
    starts = np.arange(length) * stride - padding
    positions = starts[None, None, :] + taps.numpy() * dilation
    idx = Tensor._make(positions.astype(np.int64))
    return values, (idx if batched else idx.squeeze(0))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """The mean of each window; with count_include_pad the zero padding counts in the divisor
    (never the part of a ceil_mode window beyond the padding), else only the input's elements."""
    x, batched, K, stride, padding, _ = _pool_args(input, kernel_size, stride, padding, 1, "avg_pool1d")
    L = x.shape[2]
    length = _pool_length(L, K, stride, padding, 1, ceil_mode)
    reach = (length - 1) * stride + K
    padded = pad(x, (padding, max(reach - L - padding, 0)))
    sums = _windows(padded, K, stride, 1, length).sum(dim=-1)
    starts = np.arange(length) * stride - padding
    ends = np.minimum(starts + K, L + padding)
    counts = ends - starts if count_include_pad else np.minimum(ends, L) - np.maximum(starts, 0)
    out = sums / to_tensor(counts.astype(x.dtype))
    return out if batched else out.squeeze(0)


def adaptive_avg_pool1d(input, output_size):
    """output_size means over windows [⌊i·L/n⌋, ⌈(i+1)·L/n⌉), as PyTorch's."""
    x, batched = _batched(input, "adaptive_avg_pool1d")
    n, L = _single(output_size, "adaptive_avg_pool1d: output_size"), x.shape[2]
    out = stack([x[:, :, (i * L) // n:-(-((i + 1) * L) // n)].mean(dim=-1) for i in range(n)], dim=-1)
    return out if batched else out.squeeze(0)


class Conv1d(Module):
    """A 1-D convolution of in_channels to out_channels with PyTorch's arguments and initialisation
    (kaiming-uniform weight with a = √5, bias U(±1/√fan_in)); padding_mode pads with zeros or by
    'reflect', 'replicate' or 'circular'."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"Conv1d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        dt = float_dtype(dtype, "Conv1d")
        K = _single(kernel_size, "Conv1d: kernel_size")
        _conv_padding(padding, K, _single(stride, "Conv1d: stride"), _single(dilation, "Conv1d: dilation"), "Conv1d")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (K,)
        self.stride, self.dilation = (_single(stride, "Conv1d: stride"),), (_single(dilation, "Conv1d: dilation"),)
        self.padding = padding if isinstance(padding, str) else (_single(padding, "Conv1d: padding"),)
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(np.zeros((out_channels, in_channels // groups, K), dt))
        self.bias = Parameter(np.zeros(out_channels, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2]
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        if self.padding_mode == "zeros":
            return conv1d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        sides = _conv_padding(padding, self.kernel_size[0], self.stride[0], self.dilation[0], "Conv1d")
        x, batched = _batched(input, "Conv1d")
        out = conv1d(pad(x, sides, mode=self.padding_mode), self.weight, self.bias, self.stride, 0, self.dilation,
                     self.groups)
        return out if batched else out.squeeze(0)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class MaxPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation, self.return_indices, self.ceil_mode = padding, dilation, return_indices, ceil_mode

    def forward(self, input):
        return max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = (_single(kernel_size, "AvgPool1d: kernel_size"),)
        self.stride = self.kernel_size if stride is None else (_single(stride, "AvgPool1d: stride"),)
        self.padding = (_single(padding, "AvgPool1d: padding"),)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input):
        return avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
