"""The named (values, indices) pairs that max/min along a dim, sort and topk return, as
torch.return_types: ``x.max(1).values`` and ``values, indices = x.max(1)`` both work."""
from collections import namedtuple

max = namedtuple("max", ("values", "indices"))
min = namedtuple("min", ("values", "indices"))
sort = namedtuple("sort", ("values", "indices"))
topk = namedtuple("topk", ("values", "indices"))
