"""The BLAS thread policy: which pool a sequence kernel limits, when, and that limits are restored."""
import os
import threading

import numpy as np
import pytest

from threadpoolctl import threadpool_info

import tinygrad_rnn as tg
from tinygrad_rnn import blas_threads
from tinygrad_rnn.kernels import matrices


def _threads():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def _kernel_pools():
    return {lib.filepath for lib in blas_threads.kernels_blas()}


def test_a_small_step_limits_only_the_kernels_blas_and_restores_it():
    kernel_pools = _kernel_pools()  # first: it loads SciPy's BLAS (the package no longer imports SciPy)
    before = _threads()
    with blas_threads.sequence_kernel(1, 128 * 512):  # config a: B=1, H=128, 4 gates
        inside = _threads()
    assert _threads() == before
    for path, n in inside.items():
        assert n == (1 if path in kernel_pools else before[path]), path
    if len(before) > 1:  # NumPy's own BLAS is told apart and keeps its threads
        assert kernel_pools != set(before)


def test_a_large_step_keeps_every_thread():
    before = _threads()
    with blas_threads.sequence_kernel(64, blas_threads.SMALL_STEP):
        assert _threads() == before


def test_interleaved_threads_restore_the_limit():
    before = _threads()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with blas_threads.sequence_kernel(1, 1):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with blas_threads.sequence_kernel(1, 1):
            second_in.set()
            first_out.wait(5)
            seen.append(blas_threads._kernel_pool.users)  # after the first left: the limit is still held, by one

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert seen == [1] and blas_threads._kernel_pool.users == 0
    assert _threads() == before


def test_tracing_limits_only_numpys_blas_and_restores_it():
    before = _threads()
    kernel_pools = _kernel_pools()
    with blas_threads.tracing():
        inside = _threads()
    assert _threads() == before
    for path, n in inside.items():
        assert n == (before[path] if path in kernel_pools else 1), path


def test_the_compiler_traces_under_the_policy(monkeypatch):
    seen = []
    real = blas_threads.tracing

    def spy():
        seen.append(True)
        return real()

    monkeypatch.setattr(blas_threads, "tracing", spy)
    layer = tg.nn.Recurrent(tg.nn.IndRNNCell(3, 4))
    layer(tg.randn(2, 1, 3))
    assert seen == [True, True]  # the step's trace, and check_frontier's second one for a new cell
    layer(tg.randn(2, 1, 3))
    assert seen == [True] * 3


def test_the_fused_layers_run_under_the_policy(monkeypatch):
    seen = []
    real = blas_threads.sequence_kernel

    def spy(batch, width):
        seen.append((batch, width))
        return real(batch, width)

    monkeypatch.setattr(blas_threads, "sequence_kernel", spy)
    monkeypatch.setattr(blas_threads, "MIN_ROWS", 3)  # two rows: one part, however long the sequence
    lstm = tg.nn.LSTM(3, 5)
    out, _ = lstm(tg.randn(4, 2, 3))
    out.sum().backward()
    assert seen == [(2, 20 * 5)] * 2


def test_row_parts_cover_the_batch_once_and_follow_the_blas_threads():
    pools = blas_threads.kernels_blas()
    threads = min(lib.num_threads for lib in pools)
    for batch in (1, 2, 3, 7, 64):
        parts = blas_threads.row_parts(batch, 128 * 512, 100)
        assert [p.start for p in parts] == [0] + [p.stop for p in parts[:-1]] and parts[-1].stop == batch
        assert len(parts) <= max(1, min(threads, batch // blas_threads.MIN_ROWS))
        assert all(p.stop - p.start >= min(batch, blas_threads.MIN_ROWS) for p in parts)
    with blas_threads.sequence_kernel(1, 1):  # the kernels' BLAS on one thread: no parts
        assert len(blas_threads.row_parts(64, 1, 10 ** 9)) == 1
    assert len(blas_threads.row_parts(64, blas_threads.SPLIT_STEP // 64, 100)) == 1  # a product large enough alone


def test_a_short_sequence_runs_whole():
    """Handing a part to a second thread costs more than a short sequence's kernels save by it."""
    threads = min(lib.num_threads for lib in blas_threads.kernels_blas())
    width = 32 * 4 * 32  # an LSTM's W_hh at H=32
    assert blas_threads.row_parts(10, width, 10) == [slice(0, 10)]  # PyTorch's word language model
    steps = -(-blas_threads.MIN_SPLIT_WORK // (10 * width))
    assert len(blas_threads.row_parts(10, width, steps - 1)) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert len(blas_threads.row_parts(10, width, steps)) == min(10 // blas_threads.MIN_ROWS, threads, cores)


def test_parts_run_side_by_side_with_one_blas_thread_each(monkeypatch):
    monkeypatch.setattr(blas_threads, "row_parts", lambda batch, width, steps: [slice(0, 3), slice(3, batch)])
    seen = []

    def part(rows):
        seen.append((rows.start, threading.current_thread().name, sorted(_threads()[p] for p in _kernel_pools())))
        return rows.stop - rows.start

    parts = blas_threads.row_parts(8, 1, 1)
    assert blas_threads.run_parts(parts, 1, part) == [3, 5]
    assert sorted(s[0] for s in seen) == [0, 3] and len({s[1] for s in seen}) == 2
    assert all(set(s[2]) == {1} for s in seen)


def test_then_runs_in_each_part_or_after_the_one_parts_limit():
    """then() follows each part's fn in that part's thread on one BLAS thread when parts run side by
    side; after the limit of a lone small part, on the BLAS's own thread count."""
    before = _threads()
    kernel_pools = _kernel_pools()
    if all(before[p] == 1 for p in kernel_pools):
        pytest.skip("the kernels' BLAS runs one thread: inside and after the limit look alike")
    seen = []

    def then(result):
        seen.append((result, threading.current_thread().name, {p: _threads()[p] for p in kernel_pools}))
        return -result

    def part(rows):
        return rows.stop - rows.start

    assert blas_threads.run_parts([slice(0, 1)], 1, part, then=then) == [-1]
    assert seen == [(1, threading.current_thread().name, {p: before[p] for p in kernel_pools})]
    seen.clear()
    assert blas_threads.run_parts([slice(0, 3), slice(3, 8)], 1, part, then=then) == [-3, -5]
    assert sorted(s[0] for s in seen) == [3, 5] and len({s[1] for s in seen}) == 2
    assert all(set(s[2].values()) == {1} for s in seen)
    assert _threads() == before


def test_a_lone_parts_weight_gradients_run_on_every_blas_thread(monkeypatch):
    """At a batch of one (one part, one BLAS thread in the kernels) the weight-gradient products,
    after the time loop, run outside the limit."""
    from tinygrad_rnn.compiler import sequence
    kernel_pools = _kernel_pools()
    before = {p: n for p, n in _threads().items() if p in kernel_pools}
    if all(n == 1 for n in before.values()):
        pytest.skip("the kernels' BLAS runs one thread: inside and after the limit look alike")
    seen = []
    real = sequence._weight_grads

    def spy(*args):
        seen.append({p: _threads()[p] for p in kernel_pools})
        return real(*args)

    monkeypatch.setattr(sequence, "_weight_grads", spy)
    lstm = tg.nn.LSTM(3, 5)
    out, _ = lstm(tg.randn(4, 1, 3))
    out.sum().backward()
    assert seen and all(s == before for s in seen)


def test_a_split_batch_gives_the_whole_batchs_results(monkeypatch):
    """Rows are independent sequences: a layer run in parts equals the layer run whole (lengths,
    both directions, the summed weight gradients), for the built-in layers and a custom cell."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((6, 5, 3)), dtype=np.float64, requires_grad=True)
    results = []
    layers = (lambda: tg.nn.LSTM(3, 4, bidirectional=True, dtype=np.float64),
              lambda: tg.nn.GRU(3, 4, bidirectional=True, dtype=np.float64),
              lambda: tg.nn.RNN(3, 4, bidirectional=True, dtype=np.float64),
              lambda: tg.nn.Recurrent(tg.nn.LayerNormLSTMCell(3, 4, dtype=np.float64), reverse=True))  # compiled
    for parts in ([slice(0, 5)], [slice(0, 2), slice(2, 5)]):
        monkeypatch.setattr("tinygrad_rnn.compiler.sequence.row_parts", lambda batch, width, steps, parts=parts: parts)
        for make in layers:
            tg.manual_seed(1)
            layer = make()
            x.grad = None
            out, _ = layer(x, lengths=[6, 2, 5, 1, 4])
            (out * out).sum().backward()
            results.append([out.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for whole, split in zip(results[:4], results[4:]):
        for a, b in zip(whole, split):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_one_thread_everywhere_yields_to_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = _threads()
    blas_threads.one_thread_everywhere()
    assert _threads() == before


def _forward_in_child(lstm, x, queue):
    out, _ = lstm(x)
    out.sum().backward()
    queue.put(out.detach().numpy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_split_layers(monkeypatch):
    """The worker threads do not survive a fork: the child gets its own (it deadlocked before)."""
    import multiprocessing
    monkeypatch.setattr("tinygrad_rnn.compiler.sequence.row_parts",
                        lambda batch, width, steps: [slice(0, 2), slice(2, batch)])
    lstm = tg.nn.LSTM(3, 4)
    x = tg.randn(5, 6, 3)
    out, _ = lstm(x)
    out.sum().backward()  # the parent has used its workers
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forward_in_child, args=(lstm, x, queue))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert np.allclose(queue.get(timeout=5), out.detach().numpy())


def test_per_step_products_above_the_small_kernel_size_run_in_calls_of_8_rows(monkeypatch):
    """On OpenBLAS's AVX-512 cores a float32 per-step product of up to 32 rows above SMALL_PRODUCT
    multiply-adds runs in calls of 8 rows, each under it; anything else, or another BLAS, one call."""
    rows, f32, f64 = matrices.step_product_rows, np.float32, np.float64
    monkeypatch.setattr(matrices, "small_kernel_blas", lambda: True)
    assert rows(16, 128, 512, f32) == rows(32, 128, 512, f32) == 8 and 8 * 128 * 512 <= matrices.SMALL_PRODUCT
    assert rows(20, 128, 384, f32) == 20  # 983,040 multiply-adds: the small kernel already
    assert rows(16, 128, 512, f64) == 16 and rows(48, 128, 512, f32) == 48
    assert rows(16, 256, 1024, f32) == 16  # 8 rows are above it too
    assert rows(0, 128, 512, f32) == 1  # a range step of at least 1
    monkeypatch.setattr(matrices, "small_kernel_blas", lambda: False)
    assert rows(16, 128, 512, f32) == 16


def test_the_small_kernel_is_looked_for_in_the_kernels_blas():
    cores = {str(lib.architecture).upper() for lib in blas_threads.kernels_blas() if hasattr(lib, "architecture")}
    assert matrices.small_kernel_blas.__wrapped__() == bool(cores & set(matrices.SMALL_KERNEL_BLAS))
