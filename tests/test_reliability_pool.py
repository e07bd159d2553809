"""The kernels' workspace pool: its bookkeeping under any sequence of take/give/clear, its memory
bound, threads, and the long-sequence backward that used to crash it (issue 11, item 1)."""
import threading

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.kernels import workspace

SHAPES = [(3,), (5,), (2, 4), (16,), (1, 1)]
DTYPES = [np.float64, np.float32]
LIMIT = 160  # bytes: a handful of the buffers above, so evictions happen constantly


@pytest.fixture
def small_pool(monkeypatch):
    workspace.clear()
    monkeypatch.setattr(workspace, "MAX_BYTES", LIMIT)
    yield
    workspace.clear()


class PoolMachine(RuleBasedStateMachine):
    """Buffers in use are a bundle; each one is given back at most once (consumes)."""

    in_use = Bundle("in_use")

    def __init__(self):
        super().__init__()
        workspace.clear()
        self._limit, workspace.MAX_BYTES = workspace.MAX_BYTES, LIMIT
        self.outstanding = {}  # id -> array, every buffer handed out and not yet given back

    def teardown(self):
        workspace.MAX_BYTES = self._limit
        workspace.clear()

    @rule(target=in_use, shape=st.sampled_from(SHAPES), dtype=st.sampled_from(DTYPES))
    def take(self, shape, dtype):
        a = workspace.take(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert id(a) not in self.outstanding, "the pool handed out a buffer that is still in use"
        self.outstanding[id(a)] = a
        return a

    @rule(a=consumes(in_use))
    def give(self, a):
        del self.outstanding[id(a)]
        workspace.give(a)

    @rule(a=in_use)
    def a_buffer_in_use_is_not_pooled(self, a):
        """A buffer handed out and not given back is nowhere in the pool."""
        assert not any(b is a for free in workspace._pool.values() for b in free)

    @rule()
    def clear(self):
        workspace.clear()

    @invariant()
    def bookkeeping(self):
        pooled = [b for free in workspace._pool.values() for b in free]
        assert all(workspace._pool.values()), "an empty list stays in the pool"
        assert workspace._held == sum(b.nbytes for b in pooled) == workspace.held_bytes()
        assert workspace._held <= workspace.MAX_BYTES
        assert len({id(b) for b in pooled}) == len(pooled), "a buffer is pooled twice"
        assert not any(id(b) in self.outstanding for b in pooled), "a buffer in use is in the pool"
        for (shape, dtype), free in workspace._pool.items():
            assert all(b.shape == shape and b.dtype == dtype for b in free)


TestPoolStateMachine = PoolMachine.TestCase


def test_eviction_after_a_take_emptied_a_shape(small_pool):
    """The crash of issue 11: a take left an empty list behind; the next eviction popped from it."""
    a = workspace.take((10,), np.float64)
    workspace.give(a)
    workspace.take((10,), np.float64)  # empties the (10,) list
    workspace.give(workspace.take((5,), np.float64))
    workspace.give(workspace.take((16,), np.float64))  # 168 bytes held: evicts, oldest shape first
    assert workspace.held_bytes() <= LIMIT


def test_double_give_is_refused(small_pool):
    a = workspace.take((3,), np.float64)
    workspace.give(a)
    with pytest.raises(RuntimeError, match="already given back"):
        workspace.give(a)


def test_views_and_oversized_buffers_are_not_pooled(small_pool):
    big = workspace.take((LIMIT,), np.float64)
    workspace.give(big)
    workspace.give(np.empty((8, 2))[:, 0])  # a strided view: pooling it would hand out non-contiguous memory
    assert workspace.held_bytes() == 0


def test_threads_never_share_a_buffer(small_pool):
    """Eight threads take, stamp, check and give: a buffer handed to two at once shows a foreign stamp."""
    errors = []

    def work(tag):
        for _ in range(300):
            a = workspace.take((4,), np.float64)
            a[:] = tag
            if not (a == tag).all():
                errors.append(tag)
            workspace.give(a)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert workspace.held_bytes() <= LIMIT


@pytest.mark.parametrize("limit", [6000, 10000, 16000])
@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM, nn.RNN])
def test_backward_with_a_pool_too_small_for_the_sequence(small_pool, monkeypatch, cls, limit):
    """Training steps whose buffers overflow the pool (the T=2750 GRU crash, scaled down to a small limit)."""
    monkeypatch.setattr(workspace, "MAX_BYTES", limit)
    m = cls(3, 5, dtype=np.float64)
    x = tg.randn(40, 2, 3, dtype=np.float64)
    for _ in range(3):
        out, _ = m(x)
        out.sum().backward()
    assert workspace.held_bytes() <= limit
