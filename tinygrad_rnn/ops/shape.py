"""Shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze, flatten, indexing,
cat/stack/split/chunk. Each backward is the inverse rearrangement of the gradient."""
import numpy as np

from ..autograd import Function
from ..kernels import scatter
from ..tensor import Tensor, ShapeError, _size_args
from ..views import ViewFunction
from .elementwise import to_tensor
from . import return_types
from .reduce import normalize_dims


class Reshape(ViewFunction):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(ViewFunction):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.permute(*ctx.inverse), None


class Expand(ViewFunction):
    """Broadcast to a larger shape; the engine's un-broadcasting is the whole backward."""

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None


class GetItem(ViewFunction):
    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.key = x.shape, key
        out = x[key]
        if type(out) is not np.ndarray and _is_basic(key):  # every dim indexed by an int: a 0-d view
            out = x[(*key, ...) if isinstance(key, tuple) else (key, ...)]
        return np.asarray(out)

    @staticmethod
    def backward(ctx, g):
        return IndexBackward.apply(g, ctx.shape, ctx.key), None


class IndexBackward(Function):
    """Scatter a gradient back to the indexed positions, adding where indices repeat."""

    @staticmethod
    def forward(ctx, g, shape, key):
        ctx.key = key
        rows = key[0] if isinstance(key, tuple) and len(key) == 1 else key
        if isinstance(rows, np.ndarray) and rows.ndim == 1 and rows.dtype == np.int64 and len(shape) >= 1:
            flat = np.ascontiguousarray(g).reshape(len(rows), int(np.prod(shape[1:])))
            return scatter.scatter_add_rows(rows % max(shape[0], 1), flat, shape[0]).reshape(shape)
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic(key):
            out[key] = g
        else:
            np.add.at(out, key, g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return gg[ctx.key], None, None


def _is_basic(key):
    parts = key if isinstance(key, tuple) else (key,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.bounds = np.cumsum([0] + [x.shape[dim] for x in xs])
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        parts = Split.apply(g, ctx.dim, tuple(int(b) for b in ctx.bounds[1:-1]))
        parts = parts if isinstance(parts, tuple) else (parts,)
        return (None, *[p if need else None for p, need in zip(parts, ctx.needs_input_grad[1:])])


class Stack(Function):
    """xs along a new dim as one node (not an unsqueeze per tensor and a cat); backward unbinds g."""

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *[p if need else None for p, need in zip(unbind(g, ctx.dim), ctx.needs_input_grad[1:])])


class Unbind(ViewFunction):
    """The slices of x along dim, without it, as one node (views); backward stacks their gradients."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        moved = np.moveaxis(x, dim, 0)
        return tuple(moved[i, ...] for i in range(moved.shape[0]))  # [i, ...]: a view even of a 1-D x

    @staticmethod
    def backward(ctx, *grads):
        return stack(grads, ctx.dim), None


class Split(ViewFunction):
    """Pieces of x along dim as one node; backward concatenates their gradients (zeros where none)."""

    @staticmethod
    def forward(ctx, x, dim, cuts):
        ctx.dim = dim
        return tuple(np.split(x, cuts, axis=dim))

    @staticmethod
    def backward(ctx, *grads):
        return cat(grads, dim=ctx.dim), None, None


def reshape(x, *shape):
    shape = _size_args(shape)
    if shape == x.shape:
        return x
    try:
        return Reshape.apply(x, shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x._data.size} elements) "
                         f"into shape {shape}") from None


def permute(x, *dims):
    dims = _size_args(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of shape {x.shape}")
    return Permute.apply(x, tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    if x._data.ndim == 2 and {dim0, dim1} in ({0, 1}, {-1, -2}, {0, -1}, {1, -2}) and dim0 != dim1:
        return Permute.apply(x, (1, 0))
    dims = list(range(x.ndim))
    (a,), (b,) = normalize_dims(dim0, x.ndim, "transpose"), normalize_dims(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, tuple(dims))


def expand(x, *shape):
    shape = _size_args(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: target shape {shape} has fewer dims than the tensor's shape {x.shape}")
    full = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i, s in enumerate(x.shape):
        if s != 1 and s != full[lead + i]:
            raise ShapeError(f"expand: the tensor's shape {x.shape} cannot be expanded to {shape}")
    return x if full == x.shape else Expand.apply(x, full)


def squeeze(x, dim=None):
    dims = normalize_dims(dim, x.ndim, "squeeze")
    return x.reshape(tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of {x.ndim} dims")
    dim = dim % (x.ndim + 1)
    return x.reshape(x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    (s,), (e,) = normalize_dims(start_dim, x.ndim, "flatten"), normalize_dims(end_dim, x.ndim, "flatten")
    return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def index_key(key):
    """A NumPy index from a user's key: Tensors and lists become integer or bool arrays."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for p in parts:
        if isinstance(p, Tensor):
            p = p._data
            if p.ndim == 0 and p.dtype.kind in "iu":
                p = int(p)  # a 0-d integer tensor indexes as an int, as in PyTorch
        elif isinstance(p, list):
            p = np.asarray(p)
        if isinstance(p, np.ndarray):
            if p.dtype.kind in "iu":
                p = p.astype(np.int64, copy=False)
            elif p.dtype != np.bool_:
                raise TypeError(f"index: tensors used as indices must be integer or bool, got {p.dtype}")
        elif isinstance(p, (float, np.floating)):
            raise TypeError(f"index: indices must be integers, slices, None or integer tensors, got float {p}")
        out.append(p)
    return tuple(out) if isinstance(key, tuple) else out[0]


def ints_first(key):
    """PyTorch's order for a key mixing ints with index arrays: the ints select first (basic
    indexing), then the arrays index what is left, so x[0, :, [1, 2]] of a (3, 4, 5) x is (4, 2)
    (NumPy counts the int as an array index and would give (2, 4)). None when there is nothing to split."""
    if not isinstance(key, tuple):
        return None
    is_int = [isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in key]
    if not any(is_int) or not any(isinstance(p, np.ndarray) and p.ndim for p in key):
        return None
    first = []
    for p, integer in zip(key, is_int):
        if integer or p is Ellipsis:
            first.append(p)
        elif isinstance(p, np.ndarray) and p.dtype == np.bool_:
            first += [slice(None)] * max(p.ndim, 1)
        elif p is not None:
            first.append(slice(None))
    return tuple(first), tuple(p for p, integer in zip(key, is_int) if not integer)


def getitem(x, key):
    key = index_key(key)
    split = ints_first(key)
    if split is not None:
        return getitem(getitem(x, split[0]), split[1])
    try:
        return GetItem.apply(x, key)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {x.shape})") from None


def _promoted(tensors):
    """The tensors in one dtype, PyTorch's: integers and bools take the floats' (NumPy would give
    float64 for int64 with float32)."""
    floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
    dtype = np.result_type(*(floats or [t.dtype for t in tensors]))
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def cat(tensors, dim=0):
    tensors = [to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = _promoted(tensors)
    first = tensors[0]
    (d,) = normalize_dims(dim, first.ndim, "cat")
    for k, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != first.shape[:d] + first.shape[d + 1:]:
            raise ShapeError(f"cat: tensor {k} has shape {t.shape}, which does not match tensor 0's shape "
                             f"{first.shape} outside dim {d}")
    return Cat.apply(d, *tensors)


def stack(tensors, dim=0):
    tensors = [to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    tensors = _promoted(tensors)
    for k, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ShapeError(f"stack: tensor {k} has shape {t.shape}, expected tensor 0's shape {tensors[0].shape}")
    if not -tensors[0].ndim - 1 <= dim <= tensors[0].ndim:
        raise IndexError(f"stack: dim {dim} is out of range for {tensors[0].ndim + 1} dims")
    return Stack.apply(dim % (tensors[0].ndim + 1), *tensors)


def split(x, split_size_or_sections, dim=0):
    (d,) = normalize_dims(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, expected the size {n} of dim {d}")
    return Split.apply(x, d, tuple(int(b) for b in np.cumsum(sizes)[:-1]))


def unbind(x, dim=0):
    """The slices of x along dim, without that dim, as a tuple: one node, whose backward is one stack."""
    if x.ndim == 0:
        raise IndexError("unbind: a 0-d tensor has no dim to unbind")
    (d,) = normalize_dims(dim, x.ndim, "unbind")
    return Unbind.apply(x, d) if x.shape[d] else ()


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    (d,) = normalize_dims(dim, x.ndim, "chunk")
    if not x.shape[d]:
        return split(x, [0] * chunks, d)  # as torch: `chunks` empty pieces
    return split(x, -(-x.shape[d] // chunks), d)


class View(ViewFunction):
    """The same storage in a new shape (never a copy)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        out = x.view()
        out.shape = shape  # raises when the strides do not allow a view
        return out

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _along(index, dim):
    """The fancy index that picks, at each position of index, x at that position with dim's
    coordinate replaced by the index (index may be smaller than x in the other dims)."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class Gather(Function):
    """out[i][j] = x[i][index[i][j]] along dim; backward scatters (adds) the gradient back."""

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.index, ctx.shape = dim, index, x.shape
        return x[_along(index, dim)]

    @staticmethod
    def backward(ctx, g):
        return ScatterAdd.apply(g, ctx.dim, ctx.index, ctx.shape), None, None


class ScatterAdd(Function):
    """zeros(shape) with g added at index along dim: the adjoint of Gather."""

    @staticmethod
    def forward(ctx, g, dim, index, shape):
        ctx.dim, ctx.index = dim, index
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, _along(index, dim), g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return Gather.apply(gg, ctx.dim, ctx.index), None, None, None


class IndexPut(Function):
    """x with x[key] = value (what `x[key] = value` records): gradient to x except at key, to value at key."""

    @staticmethod
    def forward(ctx, x, value, key):
        ctx.key = key
        out = x.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx, g):
        return (IndexPut.apply(g, np.zeros((), g._data.dtype), ctx.key) if ctx.needs_input_grad[0] else None,
                g[ctx.key] if ctx.needs_input_grad[1] else None, None)


def view(x, *shape):
    shape = _size_args(shape)
    try:
        return View.apply(x, shape)
    except (AttributeError, ValueError):
        raise ShapeError(f"view: a tensor of shape {x.shape} and strides {x._data.strides} cannot be viewed as "
                         f"shape {shape}; use .reshape(...) instead (it copies when it must)") from None


def narrow(x, dim, start, length):
    (d,) = normalize_dims(dim, x.ndim, "narrow")
    if start < 0:
        start += x.shape[d]
    if not (0 <= start and length >= 0 and start + length <= x.shape[d]):
        raise IndexError(f"narrow: start {start} and length {length} do not fit in dim {d} of size {x.shape[d]}")
    return x[(slice(None),) * d + (slice(start, start + length),)]


def _int_index(index, name):
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, got {idx.dtype}")
    return idx.astype(np.int64, copy=False)


def check_in_range(idx, size, dim, name):
    """IndexError unless every index is in [0, size): PyTorch's gather, scatter and index_* do not
    wrap negative ones."""
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise IndexError(f"{name}: index out of range for dim {dim} of size {size}")


def index_select(x, dim, index):
    (d,) = normalize_dims(dim, x.ndim, "index_select")
    idx = _int_index(index, "index_select")
    if idx.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {idx.shape}")
    check_in_range(idx, x.shape[d], d, "index_select")
    return x[(slice(None),) * d + (idx,)]


def _fits(index_shape, shape, free_dim=None):
    """Whether an index of index_shape is no larger than shape in every dim but free_dim (gather's and
    scatter_add's rule: the index may be smaller than the tensor it reads or writes)."""
    return all(n <= m for k, (n, m) in enumerate(zip(index_shape, shape)) if k != free_dim)


def gather(x, dim, index):
    (d,) = normalize_dims(dim, x.ndim, "gather")
    idx = _int_index(index, "gather")
    if idx.ndim != x.ndim:
        raise ValueError(f"gather: index must have the input's {x.ndim} dims, got shape {idx.shape}")
    if not _fits(idx.shape, x.shape, d):
        raise ShapeError(f"gather: index of shape {idx.shape} must be no larger than the input's shape {x.shape} "
                         f"in every dim but dim {d}")
    check_in_range(idx, x.shape[d], d, "gather")
    return Gather.apply(x, d, idx % max(x.shape[d], 1))


def scatter_operands(x, dim, index, src, name):
    """(dim, int64 index, src in x's dtype cut to the index's shape) of a scatter into x, checked:
    index and src have x's dims, index is no larger than src, nor than x outside dim, and in range."""
    (d,) = normalize_dims(dim, x.ndim, name)
    idx = _int_index(index, name)
    if idx.ndim != x.ndim or src.ndim != x.ndim:
        raise ValueError(f"{name}: index and src must have the input's {x.ndim} dims, got shapes "
                         f"{idx.shape} and {src.shape}")
    if not (_fits(idx.shape, src.shape) and _fits(idx.shape, x.shape, d)):
        raise ShapeError(f"{name}: index of shape {idx.shape} must be no larger than src {src.shape} in every "
                         f"dim, and than the input {x.shape} in every dim but dim {d}")
    check_in_range(idx, x.shape[d], d, name)
    src = src if src.dtype == x.dtype else src.to(x.dtype)
    return d, idx, src if src.shape == idx.shape else src[tuple(slice(0, n) for n in idx.shape)]


def scatter_add(x, dim, index, src):
    """x with src added at index along dim, as torch.scatter_add: out[i][index[i][j]] += src[i][j]
    (the positions of index; src may be larger). Differentiable in x and src."""
    d, idx, src = scatter_operands(x, dim, index, to_tensor(src, x), "scatter_add")
    return x + ScatterAdd.apply(src, d, idx, x.shape)


def masked_select(x, mask):
    """The elements of x where the bool mask (broadcast with x) is true, as a 1-D tensor."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {m.dtype}")
    shape = np.broadcast_shapes(x.shape, m.shape)
    return x.expand(*shape)[Tensor._make(np.broadcast_to(m, shape))]


def index_put(x, key, value, accumulate=False):
    """x with value written at key (accumulate: added there, repeated positions adding up)."""
    key = index_key(key)
    value = to_tensor(value, x)
    if value.dtype != x.dtype:
        value = value.to(x.dtype)
    try:
        if accumulate:
            return x + IndexBackward.apply(value.expand(*x._data[key].shape), x.shape, key)
        return IndexPut.apply(x, value, key)
    except IndexError as e:
        raise IndexError(f"index assignment: {e} (tensor of shape {x.shape})") from None
    except ValueError as e:
        raise ShapeError(f"index assignment: {e} (tensor of shape {x.shape}, value of shape {value.shape})") from None


def repeat(x, *sizes):
    """Tile x sizes[i] times along dim i: expand a (1, s) pair per dim, then merge it."""
    sizes = _size_args(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: got {len(sizes)} sizes for a tensor of {x.ndim} dims")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    paired = x.reshape(tuple(v for s in shape for v in (1, s)))
    tiled = paired.expand(tuple(v for r, s in zip(sizes, shape) for v in (r, s)))
    return tiled.reshape(tuple(r * s for r, s in zip(sizes, shape)))


def _descending(a):
    """A key whose ascending order is a's descending one, ties in place: NaN first, as PyTorch sorts
    NaN above everything; ~a for integers and bools (-a would wrap for unsigned ones)."""
    if a.dtype.kind != "f":
        return ~a
    return np.where(np.isnan(a), -np.inf, -a)


def sort(x, dim=-1, descending=False):
    """(values, indices) along dim; values are a gather, so they carry gradients."""
    (d,) = normalize_dims(dim, x.ndim, "sort") or (0,)
    if x.ndim == 0:
        return return_types.sort(x, Tensor._make(np.zeros((), np.int64)))
    order = np.argsort(_descending(x._data) if descending else x._data, axis=d, kind="stable")
    return return_types.sort(Gather.apply(x, d, order), Tensor._make(order.astype(np.int64)))


def topk(x, k, dim=-1, largest=True, sorted=True):
    (d,) = normalize_dims(dim, x.ndim, "topk") or (0,)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k must be in [0, {n}] for dim {d}, got {k}")
    if x.ndim == 0:
        return return_types.topk(x, Tensor._make(np.zeros((), np.int64)))
    order = np.argsort(_descending(x._data) if largest else x._data, axis=d, kind="stable")
    idx = np.take(order, np.arange(k), axis=d)
    return return_types.topk(Gather.apply(x, d, idx), Tensor._make(idx.astype(np.int64)))
