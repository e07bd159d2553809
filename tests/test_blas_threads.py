"""The BLAS thread policy: which pool a sequence kernel limits, when, and that limits are restored."""
import threading

from threadpoolctl import threadpool_info

import tinygrad_rnn as tg
from tinygrad_rnn import blas_threads


def _threads():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def _kernel_pools():
    return {lib.filepath for lib in blas_threads._kernels_blas()}


def test_a_small_step_limits_only_the_kernels_blas_and_restores_it():
    before = _threads()
    kernel_pools = _kernel_pools()
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
    tg.nn.Recurrent(tg.nn.IndRNNCell(3, 4))(tg.randn(2, 1, 3))
    assert seen == [True]


def test_the_fused_layers_run_under_the_policy(monkeypatch):
    seen = []
    real = blas_threads.sequence_kernel

    def spy(batch, width):
        seen.append((batch, width))
        return real(batch, width)

    monkeypatch.setattr("tinygrad_rnn.ops.fused_sequences.sequence_kernel", spy)
    lstm = tg.nn.LSTM(3, 5)
    out, _ = lstm(tg.randn(4, 2, 3))
    out.sum().backward()
    assert seen == [(2, 20 * 5)] * 2


def test_one_thread_everywhere_yields_to_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = _threads()
    blas_threads.one_thread_everywhere()
    assert _threads() == before
