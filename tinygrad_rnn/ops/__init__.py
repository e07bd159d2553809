"""The differentiable primitives, one family a file, and the Tensor methods that call them."""
from ..tensor import Tensor
from .elementwise import (add, sub, mul, div, neg, pow, exp, log, sqrt, abs, tanh, sigmoid, relu, clamp,
                          where, maximum, minimum, cast, compare, to_tensor)
from .reduce import sum, mean, max, min, amax, argmax, argmin, logsumexp, var, std
from .shape import (reshape, permute, transpose, expand, squeeze, unsqueeze, flatten, getitem, index_key,
                    cat, stack, split, chunk)
from .linalg import matmul
from .nn import (softmax, log_softmax, cross_entropy, nll_loss, mse_loss, l1_loss,
                 binary_cross_entropy_with_logits, embedding, dropout)


def _method(fn):
    return lambda self, *args, **kwargs: fn(self, *args, **kwargs)


for _name, _fn in dict(
        exp=exp, log=log, sqrt=sqrt, abs=abs, tanh=tanh, sigmoid=sigmoid, relu=relu, clamp=clamp,
        clip=clamp, maximum=maximum, minimum=minimum, pow=pow, matmul=matmul,
        sum=sum, mean=mean, max=max, min=min, amax=amax, argmax=argmax, argmin=argmin,
        logsumexp=logsumexp, var=var, std=std,
        reshape=reshape, view=reshape, permute=permute, transpose=transpose, expand=expand,
        squeeze=squeeze, unsqueeze=unsqueeze, flatten=flatten, split=split, chunk=chunk,
        softmax=softmax, log_softmax=log_softmax).items():
    setattr(Tensor, _name, _method(_fn))
Tensor.expand_as = lambda self, other: expand(self, *other.shape)
Tensor.reshape_as = lambda self, other: reshape(self, *other.shape)
Tensor.view_as = Tensor.reshape_as
Tensor.clone = lambda self: self * 1
Tensor.contiguous = lambda self: self
