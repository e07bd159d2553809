"""F.pad: pad (or, with negative amounts, crop) the last dims. pad = (left, right) for the last
dim, then (top, bottom) for the one before, and so on. 'constant' fills with value; 'reflect',
'replicate' and 'circular' read the padded positions from the input by an index (NumPy's pad of
0..n-1), so their gradients add up where one element is read several times. Negative amounts
crop first, and the padding is read from what is left, as PyTorch's."""
import numpy as np

from ..ops.elementwise import to_tensor
from ..ops.shape import index_put
from ..tensor import Tensor

_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    x = to_tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of amounts for at most {x.ndim} dims, got {pad}")
    pairs = {x.ndim - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)}
    if mode == "constant":
        return _constant(_crop(x, pairs), pairs, 0 if value is None else value)
    if mode not in _NUMPY_MODE:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value not in (None, 0):
        raise ValueError(f"pad: a value is only used by mode 'constant', got value={value} with mode {mode!r}")
    if len(pairs) >= x.ndim:
        raise ValueError(f"pad: mode {mode!r} pads at most the last {x.ndim - 1} dims of a {x.ndim}-D input "
                         f"(the first is the batch or channel), got {len(pairs)}")
    x = _crop(x, pairs)
    for d, (left, right) in pairs.items():
        n = x.shape[d]
        limit = {"reflect": n - 1, "circular": n}.get(mode)
        if n == 0 or (limit is not None and max(left, right) > limit):
            raise ValueError(f"pad: mode {mode!r} needs amounts of at most {limit} for dim {d} of size {n} "
                             f"(after cropping), got ({left}, {right})")
        x = x.index_select(d, np.pad(np.arange(n), (max(left, 0), max(right, 0)), mode=_NUMPY_MODE[mode]))
    return x


def _crop(x, pairs):
    """x without what the negative amounts cut off (PyTorch crops first, then pads what is left)."""
    if all(min(p) >= 0 for p in pairs.values()):
        return x
    return x[tuple(slice(max(-pairs[d][0], 0), x.shape[d] - max(-pairs[d][1], 0)) if d in pairs else slice(None)
                   for d in range(x.ndim))]


def _constant(x, pairs, value):
    """x (cropped already) inside a tensor filled with value, by the positive amounts."""
    shape = tuple(s + max(pairs[d][0], 0) + max(pairs[d][1], 0) if d in pairs else s for d, s in enumerate(x.shape))
    place = tuple(slice(max(pairs[d][0], 0), max(pairs[d][0], 0) + s) if d in pairs else slice(None)
                  for d, s in enumerate(x.shape))
    return index_put(Tensor._make(np.full(shape, value, dtype=x.dtype)), place, x)
