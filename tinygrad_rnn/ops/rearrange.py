"""More of PyTorch's rearranging ops, composed of the shape ops (so their gradients are the shape
ops' own): flip, roll, tril/triu, diagonal/diag/trace, movedim, unflatten, tile, repeat_interleave,
select, take_along_dim, tensor_split; and the scatter family (scatter, index_add, index_fill)."""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor, ShapeError, _size_args
from .elementwise import to_tensor, where
from .reduce import normalize_dims
from .shape import (_along, _int_index, Gather, ScatterAdd, cat, check_in_range, gather, index_put,
                    scatter_operands, split)


def _dims(dims):
    return (dims,) if isinstance(dims, int) else tuple(dims)


def flip(x, *dims):
    """x reversed along dims (a copy, as PyTorch's); flip(x, (0, 1)) or x.flip(0, 1)."""
    dims = dims[0] if len(dims) == 1 else dims
    axes = normalize_dims(_dims(dims), x.ndim, "flip") if _dims(dims) else ()
    return x[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(x.ndim))].clone()


def roll(x, shifts, dims=None):
    """x shifted cyclically by shifts along dims (over the flattened tensor when dims is None)."""
    if dims is None:
        return roll(x.flatten(), shifts, 0).reshape(x.shape)
    shifts, dims = _dims(shifts), _dims(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: got {len(shifts)} shifts for {len(dims)} dims")
    for s, dim in zip(shifts, dims):
        (d,) = normalize_dims(dim, x.ndim, "roll")
        s = s % x.shape[d] if x.shape[d] else 0
        if s:
            x = cat(split(x, [x.shape[d] - s, s], d)[::-1], d)
    return x


def _band(x, diagonal, lower, name):
    if x.ndim < 2:
        raise ValueError(f"{name}: needs a tensor of at least 2 dims, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    return where(keep, x, Tensor._make(np.zeros((), x.dtype)))


def tril(x, diagonal=0):
    """The lower triangle of the last two dims (from the diagonal-th diagonal down), zeros above."""
    return _band(to_tensor(x), diagonal, True, "tril")


def triu(x, diagonal=0):
    """The upper triangle of the last two dims (from the diagonal-th diagonal up), zeros below."""
    return _band(to_tensor(x), diagonal, False, "triu")


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The offset-th diagonal of the dim1-dim2 planes, as the last dim (as PyTorch's)."""
    (a,), (b,) = normalize_dims(dim1, x.ndim, "diagonal"), normalize_dims(dim2, x.ndim, "diagonal")
    if a == b:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    moved = x.permute(*[d for d in range(x.ndim) if d not in (a, b)], a, b)
    rows, cols = moved.shape[-2:]
    n = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
    i = np.arange(n)
    return moved[(Ellipsis, i - min(offset, 0), i + max(offset, 0))]


def diag(x, diagonal=0):
    """A 1-D x as the diagonal-th diagonal of a square matrix; a matrix's diagonal-th diagonal."""
    x = to_tensor(x)
    if x.ndim == 2:
        return x.diagonal(diagonal)
    if x.ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(diagonal)
    i = np.arange(x.shape[0])
    out = Tensor._make(np.zeros((n, n), x.dtype))
    return index_put(out, (i - min(diagonal, 0), i + max(diagonal, 0)), x)


def trace(x):
    """The sum of a matrix's diagonal."""
    if x.ndim != 2:
        raise ValueError(f"trace: needs a 2-D tensor, got shape {x.shape}")
    return diagonal(x).sum()


def movedim(x, source, destination):
    """x with the dims source moved to the positions destination, the others in order."""
    source, destination = _dims(source), _dims(destination)
    if len(source) != len(destination):
        raise ValueError(f"movedim: source {source} and destination {destination} differ in length")
    src = [normalize_dims(d, x.ndim, "movedim")[0] for d in source] if x.ndim else []
    dst = [normalize_dims(d, x.ndim, "movedim")[0] for d in destination] if x.ndim else []
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must not repeat a dim")
    rest = iter(d for d in range(x.ndim) if d not in src)
    placed = dict(zip(dst, src))
    return x.permute(*[placed[i] if i in placed else next(rest) for i in range(x.ndim)])


def unflatten(x, dim, sizes):
    """dim split into sizes (one may be -1)."""
    (d,) = normalize_dims(dim, x.ndim, "unflatten")
    sizes = _size_args(tuple(sizes))
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        sizes = tuple(x.shape[d] // max(known, 1) if s == -1 else s for s in sizes)
    if int(np.prod(sizes)) != x.shape[d]:
        raise ShapeError(f"unflatten: sizes {sizes} do not multiply to dim {d}'s size {x.shape[d]}")
    return x.reshape(x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def tile(x, *dims):
    """x repeated dims[i] times along dim i; fewer dims than x's are padded with 1s in front."""
    dims = _size_args(dims)
    return x.repeat(*((1,) * (x.ndim - len(dims)) + tuple(dims)))


def repeat_interleave(x, repeats=None, dim=None, output_size=None):
    """Each element (slice along dim; of the flattened x when dim is None) repeated repeats times;
    repeat_interleave(counts) alone repeats each index k counts[k] times (output_size, PyTorch's
    hint, is checked)."""
    x = to_tensor(x)
    if repeats is None:
        x, repeats = Tensor._make(np.arange(len(x._data.reshape(-1)))), x
    if dim is None:
        x, dim = x.flatten(), 0
    (d,) = normalize_dims(dim, x.ndim, "repeat_interleave")
    counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.size != 1 and counts.shape != (x.shape[d],):
        raise ValueError(f"repeat_interleave: repeats must be one number or one per element of dim {d} "
                         f"({x.shape[d]}), got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError("repeat_interleave: repeats must be non-negative")
    index = np.repeat(np.arange(x.shape[d]), counts.reshape(-1))
    if output_size is not None and output_size != len(index):
        raise ValueError(f"repeat_interleave: output_size {output_size} differs from the {len(index)} repeats")
    return x.index_select(d, index)


def select(x, dim, index):
    """The slice at index along dim, without that dim."""
    (d,) = normalize_dims(dim, x.ndim, "select")
    if not -x.shape[d] <= index < x.shape[d]:
        raise IndexError(f"select: index {index} is out of range for dim {d} of size {x.shape[d]}")
    return x[(slice(None),) * d + (index,)]


def take_along_dim(x, indices, dim=None):
    """gather with the index broadcast against x outside dim (of the flattened x when dim is None)."""
    idx = _int_index(indices, "take_along_dim")
    if dim is None:
        return gather(x.flatten(), 0, idx.reshape(-1))
    (d,) = normalize_dims(dim, x.ndim, "take_along_dim")
    shape = np.broadcast_shapes(x.shape[:d] + (1,) + x.shape[d + 1:], idx.shape[:d] + (1,) + idx.shape[d + 1:])
    return gather(x.expand(*shape[:d], x.shape[d], *shape[d + 1:]), d,
                  np.broadcast_to(idx, shape[:d] + (idx.shape[d],) + shape[d + 1:]))


def tensor_split(x, indices_or_sections=None, dim=0, *, indices=None, sections=None):
    """Pieces of x along dim: n nearly equal ones (the first n % size one longer), or the slices
    between the given indices (Python's slice rules)."""
    indices_or_sections = next((v for v in (indices_or_sections, indices, sections) if v is not None), None)
    if indices_or_sections is None:
        raise TypeError("tensor_split: give indices_or_sections, indices or sections")
    (d,) = normalize_dims(dim, x.ndim, "tensor_split")
    if isinstance(indices_or_sections, Tensor) and indices_or_sections.ndim == 0:  # a count, as PyTorch
        indices_or_sections = int(indices_or_sections.item())
    if isinstance(indices_or_sections, int):
        k, n = indices_or_sections, x.shape[d]
        if k <= 0:
            raise ValueError(f"tensor_split: sections must be positive, got {k}")
        cuts = np.cumsum([n // k + (i < n % k) for i in range(k - 1)]).tolist()
    else:
        cuts = [int(c) for c in np.asarray(_int_index(indices_or_sections, "tensor_split")
                                           if len(indices_or_sections) else [], np.int64).reshape(-1)]
    bounds = [0] + cuts + [None]
    return tuple(x[(slice(None),) * d + (slice(a, b),)] for a, b in zip(bounds, bounds[1:]))


class Scatter(Function):
    """x with src written at index along dim (the last write wins where index repeats); dx = g but 0
    where written, dsrc = g gathered at index."""

    @staticmethod
    def forward(ctx, x, src, dim, index):
        ctx.dim, ctx.index = dim, index
        out = x.copy()
        out[_along(index, dim)] = src
        return out

    @staticmethod
    def backward(ctx, g):
        need_x, need_src = ctx.needs_input_grad[:2]
        gx = Scatter.apply(g, Tensor._make(np.zeros(ctx.index.shape, g.dtype)), ctx.dim, ctx.index) if need_x else None
        return gx, (Gather.apply(g, ctx.dim, ctx.index) if need_src else None), None, None


def scatter(x, dim, index, src=None, value=None, reduce=None):
    """x with src (a tensor, or the number value) written at index along dim: out[i][index[i][j]] =
    src[i][j] for dim 1; reduce='add' or 'multiply' combines with x's values instead."""
    if src is None:
        src, value = value, None
    if value is not None or src is None:
        raise TypeError("scatter: give src (a tensor or number) or value, not both nor neither")
    x = to_tensor(x)
    if not isinstance(src, Tensor):
        src = Tensor._make(np.full(_int_index(index, "scatter").shape, src, dtype=x.dtype))
    d, idx, src = scatter_operands(x, dim, index, src, "scatter")
    if reduce == "add":
        return x + ScatterAdd.apply(src, d, idx, x.shape)
    if reduce == "multiply":
        if src.requires_grad:
            raise NotImplementedError("scatter(reduce='multiply'): the gradient for src is not implemented")
        factors = np.ones(x.shape, x.dtype)
        np.multiply.at(factors, _along(idx, d), src._data)
        return x * Tensor._make(factors)
    if reduce is not None:
        raise ValueError(f"scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    return Scatter.apply(x, src, d, idx)


def _rows_index(x, dim, index, name, source_shape):
    """A 1-D index along dim spread over source's shape (for index_add/index_copy)."""
    (d,) = normalize_dims(dim, x.ndim, name)
    idx = _int_index(index, name)
    if idx.ndim > 1 or source_shape[:d] + source_shape[d + 1:] != x.shape[:d] + x.shape[d + 1:] \
            or (x.ndim and source_shape[d] != idx.size):
        raise ShapeError(f"{name}: source of shape {source_shape} must match the input's {x.shape} outside dim {d} "
                         f"and have one slice per index ({idx.size}) along it")
    check_in_range(idx, x.shape[d], d, name)
    shape = [1] * x.ndim
    shape[d] = idx.size
    return d, np.broadcast_to(idx.reshape(shape), source_shape)


def index_add(x, dim, index, source, alpha=1):
    """x with alpha * source's slices added at the positions index along dim (repeats add)."""
    x, source = to_tensor(x), to_tensor(source)
    d, idx = _rows_index(x, dim, index, "index_add", source.shape)
    source = source if source.dtype == x.dtype else source.to(x.dtype)
    return x + ScatterAdd.apply(source if alpha == 1 else source * alpha, d, idx, x.shape)


def index_copy(x, dim, index, source):
    """x with source's slices written at the positions index along dim."""
    x, source = to_tensor(x), to_tensor(source)
    d, idx = _rows_index(x, dim, index, "index_copy", source.shape)
    return Scatter.apply(x, source if source.dtype == x.dtype else source.to(x.dtype), d, np.ascontiguousarray(idx))


def index_fill(x, dim, index, value):
    """x with the slices at index along dim set to value (a number or a 0-d tensor)."""
    (d,) = normalize_dims(dim, x.ndim, "index_fill")
    idx = _int_index(index, "index_fill").reshape(-1)
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"index_fill: index out of range for dim {d} of size {x.shape[d]}")
    mask = np.zeros(x.shape[d] if x.ndim else 1, bool)
    mask[idx] = True
    shape = [1] * x.ndim
    if x.ndim:
        shape[d] = x.shape[d]
    value = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value, x.dtype))
    return where(mask.reshape(shape), value.to(x.dtype) if value.dtype != x.dtype else value, x)
