"""The differentiable primitives, one family a file (Tensor's methods call these)."""
from .elementwise import (add, sub, mul, div, remainder, floor_divide, neg, pow, exp, log, sqrt, abs, sin, cos,
                          tanh, sigmoid, relu, clamp, where, maximum, minimum, cast, clone, compare, bitwise,
                          logical_not, invert, to_tensor)
from .reduce import (sum, mean, max, min, amax, argmax, argmin, logsumexp, var, std, prod, cumsum, norm,
                     any, all)
from .shape import (reshape, view, permute, transpose, expand, squeeze, unsqueeze, flatten, getitem, index_key,
                    cat, stack, split, chunk, unbind, narrow, index_select, gather, index_put, repeat, sort, topk,
                    scatter_add, masked_select)
from .linalg import matmul
from .softmax import softmax, log_softmax, dropout
from .losses import (cross_entropy, nll_loss, mse_loss, l1_loss, binary_cross_entropy,
                     binary_cross_entropy_with_logits)
from .embedding import embedding
