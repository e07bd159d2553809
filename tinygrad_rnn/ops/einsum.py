"""einsum with PyTorch's rules: explicit ('ij,jk->ik') or implicit output (the letters seen once, in
alphabetical order), '...' for broadcast dims, size-1 dims broadcast against their letter's size.

The gradient of operand k is itself an einsum: of the output gradient with the other operands, onto
k's letters; letters only k has are broadcast back, and a letter k repeats ('ii') is a diagonal, so
the gradient is placed on it."""
import string

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, ShapeError
from .elementwise import to_tensor
from .shape import _promoted, index_put


class Einsum(Function):
    @staticmethod
    def forward(ctx, subs, out_sub, *arrays):
        ctx.subs, ctx.out_sub = subs, out_sub
        ctx.save_for_backward(*arrays)
        out = np.asarray(np.einsum(f"{','.join(subs)}->{out_sub}", *arrays, optimize=len(arrays) > 2))
        return out.copy() if any(np.shares_memory(out, a) for a in arrays) else out

    @staticmethod
    def backward(ctx, g):
        arrays = ctx.saved_tensors
        sizes = {c: n for sub, a in zip(ctx.subs, arrays) for c, n in zip(sub, a.shape)}
        grads = []
        for k, (sub, need) in enumerate(zip(ctx.subs, ctx.needs_input_grad[2:])):
            if not need:
                grads.append(None)
                continue
            others = [(s, a) for j, (s, a) in enumerate(zip(ctx.subs, arrays)) if j != k]
            seen = set(ctx.out_sub).union(*(s for s, _ in others))
            letters = "".join(dict.fromkeys(sub))
            kept = "".join(c for c in letters if c in seen)
            grad = _einsum([ctx.out_sub] + [s for s, _ in others], kept, [g] + [a for _, a in others])
            grad = grad.reshape(tuple(sizes[c] if c in kept else 1 for c in letters))
            grad = grad.expand(*(sizes[c] for c in letters))
            if len(letters) < len(sub):  # a repeated letter: the gradient lies on that diagonal
                key = tuple(np.arange(sizes[c]).reshape([-1 if c == d else 1 for d in letters]) for c in sub)
                grad = index_put(Tensor._make(np.zeros(tuple(sizes[c] for c in sub), g.dtype)), key, grad)
            grads.append(grad)
        return (None, None, *grads)


def _einsum(subs, out_sub, tensors):
    return Einsum.apply(tuple(subs), out_sub, *tensors)


def _parse(equation, shapes):
    """(operand subscripts, output subscript) with '...' spelled out as spare letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(subs)} operands, got {len(shapes)} tensors")
    letters = set(eq) - set(".,->")
    bad = [c for c in letters if c not in string.ascii_letters]
    if bad:
        raise ValueError(f"einsum: subscripts must be letters, got {bad[0]!r} in {equation!r}")
    spare = [c for c in string.ascii_letters if c not in letters]
    widest = max([len(s) - len(sub.replace("...", "")) for sub, s in zip(subs, shapes) if "..." in sub] or [0])
    dots = "".join(spare[:widest])
    spelled = []
    for k, (sub, shape) in enumerate(zip(subs, shapes)):
        named = len(sub.replace("...", ""))
        if "..." in sub:
            sub = sub.replace("...", dots[widest - (len(shape) - named):] if len(shape) > named else "")
        if len(sub) != len(shape):
            raise ValueError(f"einsum: operand {k} has {len(shape)} dims, its subscripts {subs[k]!r} name {len(sub)}")
        spelled.append(sub)
    if arrow:
        out = rhs.replace("...", dots)
        missing = [c for c in out if not any(c in s for s in spelled)]
        if missing or len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts {rhs!r} must be distinct letters of the operands")
    else:
        counts = "".join(spelled)
        out = dots + "".join(sorted(c for c in set(counts) - set(dots) if counts.count(c) == 1))
    return spelled, out


def einsum(equation, *operands):
    """Sum of products over the letters of an equation, e.g. einsum('bij,bjk->bik', a, b)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    tensors = _promoted([to_tensor(t) for t in operands])
    subs, out = _parse(equation, [t.shape for t in tensors])
    sizes = {}
    for k, (sub, t) in enumerate(zip(subs, tensors)):
        own = {}
        for c, n in zip(sub, t.shape):
            if own.setdefault(c, n) != n:
                raise ShapeError(f"einsum: subscript {c!r} is repeated in operand {k} with sizes {own[c]} and {n}; "
                                 "a diagonal needs equal sizes")
        for c, n in zip(sub, t.shape):
            if sizes.get(c, 1) != 1 and n not in (1, sizes[c]):
                raise ShapeError(f"einsum: subscript {c!r} has size {sizes[c]} and {n} in {equation!r}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    tensors = [t.expand(*(sizes[c] for c in sub)) if t.shape != tuple(sizes[c] for c in sub) else t
               for sub, t in zip(subs, tensors)]
    return _einsum(subs, out, tensors)
