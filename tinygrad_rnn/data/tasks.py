"""Classic sequence tasks, generated on the fly, time-major like the recurrent layers.

Every generator takes `rng`: a seed (int), a `np.random.Generator`, or None, passed to
`np.random.default_rng`, so the same seed gives the same data. Inputs are float arrays
`(T, B, features)` in `dtype` (float32 by default, the library's default dtype; the data is
drawn in float64 first, so a float64 request gives the same values at full precision).
"""
import math

import numpy as np

from .batching import check_int
from .corpus import CharVocab

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always answering 1.0 on the adding problem: the variance of a sum of two U(0, 1)."""


def _rng(rng):
    return np.random.default_rng(rng)


def adding_problem(batch, T, rng=None, dtype=np.float32):
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4; in the now-common form
    with one marker in each half): remember two marked numbers across T steps and add them.

    Inputs (T, B, 2): channel 0 holds values uniform in [0, 1); channel 1 is a marker with
    exactly two 1s, one at a step in [0, T//2) and one in [T//2, T). Targets (B, 1): the sum
    of the two marked values. Trivial baseline: always answering 1.0 gives MSE 1/6
    (`ADDING_BASELINE_MSE`); a model has learned something only below that.
    """
    batch = check_int("adding_problem", "batch", batch, 1)
    T = check_int("adding_problem", "T", T, 2)
    rng = _rng(rng)
    values = rng.random((T, batch)).astype(dtype)
    marker = np.zeros((T, batch), dtype=dtype)
    cols = np.arange(batch)
    marker[rng.integers(0, T // 2, size=batch), cols] = 1
    marker[rng.integers(T // 2, T, size=batch), cols] = 1
    inputs = np.stack([values, marker], axis=-1)
    targets = (values * marker).sum(axis=0, dtype=dtype)[:, None]
    return inputs, targets


def copy_memory(batch, n_symbols=8, length=10, delay=20, rng=None, dtype=np.float32):
    """The copy memory task (Hochreiter & Schmidhuber 1997; in the form of Arjovsky, Shah &
    Bengio 2016): read `length` symbols, wait, and write them out again after a delimiter.

    Classes: 0 is the blank, 1..n_symbols the symbols, n_symbols+1 the delimiter. The input
    sequence is `length` random symbols, `delay` blanks, the delimiter, then `length` blanks,
    so T_total = 2*length + delay + 1. Inputs (T_total, B, n_symbols+2) one-hot in `dtype`;
    targets (T_total, B) int64 class indices: blank everywhere except the last `length`
    steps (those right after the delimiter), which are the input symbols in order.
    Trivial baseline: see `copy_memory_baseline`.
    """
    batch = check_int("copy_memory", "batch", batch, 1)
    n_symbols = check_int("copy_memory", "n_symbols", n_symbols, 1)
    length = check_int("copy_memory", "length", length, 1)
    delay = check_int("copy_memory", "delay", delay, 0)
    symbols = _rng(rng).integers(1, n_symbols + 1, size=(length, batch))
    total = 2 * length + delay + 1
    ids = np.zeros((total, batch), dtype=np.int64)
    ids[:length] = symbols
    ids[length + delay] = n_symbols + 1
    targets = np.zeros((total, batch), dtype=np.int64)
    targets[-length:] = symbols
    inputs = np.eye(n_symbols + 2, dtype=dtype)[ids]
    return inputs, targets


def copy_memory_baseline(n_symbols=8, length=10, delay=20):
    """Mean per-step cross-entropy (nats) of the best memoryless answer to `copy_memory`:
    blank with certainty until the delimiter, then uniform over the symbols, which costs
    length*log(n_symbols) over T_total = 2*length + delay + 1 steps.
    """
    n_symbols = check_int("copy_memory_baseline", "n_symbols", n_symbols, 1)
    length = check_int("copy_memory_baseline", "length", length, 1)
    delay = check_int("copy_memory_baseline", "delay", delay, 0)
    return length * math.log(n_symbols) / (2 * length + delay + 1)


def timer_task(batch, T, rng=None, min_duration=5, max_duration=20, max_gap=20, dtype=np.float32):
    """An interval-timing task: on a trigger, output 0.5 for a commanded number of steps.
    (A toy of the kind used to study how trained RNNs keep time, cf. Laje & Buonomano 2013;
    the exact format is defined here.)

    Inputs (T, B, 2): channel 0 is 1 at each trigger step s and 0 elsewhere; channel 1 is
    d / max_duration at step s, where d is the trigger's duration, an integer drawn uniformly
    from [min_duration, max_duration], and 0 elsewhere. Targets (T, B, 1): 0.5 at the steps
    s+1, ..., s+d (exactly d steps, not the trigger step itself) and 0 elsewhere.
    The first trigger is at a step uniform in [0, min(max_gap, T - d)); each next one comes
    1 + g steps after the previous pulse ends, g uniform in [0, max_gap), so pulses never
    overlap. Triggers stop when a pulse would not fit, so every pulse is whole and every
    sequence has at least one trigger (which is why T must exceed max_duration).
    Trivial baseline: the best constant output, the mean target, has MSE `targets.var()`.
    """
    batch = check_int("timer_task", "batch", batch, 1)
    min_duration = check_int("timer_task", "min_duration", min_duration, 1)
    max_duration = check_int("timer_task", "max_duration", max_duration, min_duration)
    max_gap = check_int("timer_task", "max_gap", max_gap, 1)
    T = check_int("timer_task", "T", T, max_duration + 1)
    rng = _rng(rng)
    inputs = np.zeros((T, batch, 2), dtype=dtype)
    targets = np.zeros((T, batch, 1), dtype=dtype)
    for b in range(batch):
        d = int(rng.integers(min_duration, max_duration + 1))
        s = int(rng.integers(0, min(max_gap, T - d)))
        while s + d < T:
            inputs[s, b] = 1.0, d / max_duration
            targets[s + 1:s + d + 1, b] = 0.5
            s += d + 1 + int(rng.integers(0, max_gap))
            d = int(rng.integers(min_duration, max_duration + 1))
    return inputs, targets


def noisy_sine(batch, T, rng=None, noise=0.1, freq_range=(0.02, 0.1), dtype=np.float32):
    """Next-value prediction on noisy sine waves, a standard warm-up for sequence models.

    Each sequence is sin(2*pi*f*t + phase) with f uniform in `freq_range` (cycles per step)
    and phase uniform in [0, 2*pi). Inputs (T, B, 1): the wave at t = 0..T-1 plus Gaussian
    noise of std `noise`; targets (T, B, 1): the clean wave one step later, so the noise is
    only in what the model sees. Trivial baseline: answering 0 gives MSE about 0.5.
    """
    batch = check_int("noisy_sine", "batch", batch, 1)
    T = check_int("noisy_sine", "T", T, 1)
    if not noise >= 0:
        raise ValueError(f"noisy_sine expected noise >= 0, got {noise}")
    lo, hi = freq_range
    if not 0 < lo <= hi:
        raise ValueError(f"noisy_sine expected freq_range (lo, hi) with 0 < lo <= hi, got {freq_range}")
    rng = _rng(rng)
    freq = rng.uniform(lo, hi, size=batch)
    phase = rng.uniform(0, 2 * np.pi, size=batch)
    wave = np.sin(2 * np.pi * freq * np.arange(T + 1)[:, None] + phase)
    inputs = wave[:-1] + noise * rng.standard_normal((T, batch))
    return inputs[..., None].astype(dtype), wave[1:, :, None].astype(dtype)


def mackey_glass(n, tau=17, beta=0.2, gamma=0.1, n_exp=10, dt=1.0, x0=1.2, discard=500, substeps=10):
    """A 1-D float64 Mackey-Glass series (Mackey & Glass 1977), the classic chaotic
    benchmark for forecasting (tau=17 is chaotic):

        dx/dt = beta * x(t - tau) / (1 + x(t - tau)**n_exp) - gamma * x(t)

    from the constant history x = x0 on [-tau, 0]. Integrated by RK4 with step dt/substeps
    (tau is rounded to a whole number of steps; the delayed value at half steps is the mean
    of its neighbours), sampled every dt, the first `discard` samples (the transient) dropped.
    """
    n = check_int("mackey_glass", "n", n, 1)
    discard = check_int("mackey_glass", "discard", discard, 0)
    substeps = check_int("mackey_glass", "substeps", substeps, 1)
    for name, value in (("tau", tau), ("dt", dt), ("x0", x0)):
        if not value > 0:
            raise ValueError(f"mackey_glass expected {name} > 0, got {value}")
    h = dt / substeps
    lag = round(tau / h)
    if lag < 1:
        raise ValueError(f"mackey_glass expected tau >= dt/substeps = {h}, got {tau}")

    def f(x, xd):
        return beta * xd / (1.0 + xd ** n_exp) - gamma * x

    xs = [float(x0)] * (lag + 1)
    x = xs[-1]
    for _ in range((discard + n - 1) * substeps):
        a, b = xs[-lag - 1], xs[-lag]
        mid = 0.5 * (a + b)
        k1 = f(x, a)
        k2 = f(x + 0.5 * h * k1, mid)
        k3 = f(x + 0.5 * h * k2, mid)
        k4 = f(x + h * k3, b)
        x += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        xs.append(x)
    return np.array(xs[lag + discard * substeps::substeps], dtype=np.float64)


def forecasting_windows(series, T, horizon=1, stride=1):
    """Cut a 1-D series into windows for forecasting `horizon` steps ahead.

    Window i starts at i*stride: inputs[t, i, 0] = series[i*stride + t] and
    targets[t, i, 0] = series[i*stride + t + horizon], both (T, N, 1) in the series' dtype,
    so the model is scored at every step (targets[-1] alone is the value after the window).
    Trivial baseline: persistence, answering the current value, has MSE
    `((targets - inputs)**2).mean()`.
    """
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"forecasting_windows expected a 1-D series, got shape {series.shape}")
    T = check_int("forecasting_windows", "T", T, 1)
    horizon = check_int("forecasting_windows", "horizon", horizon, 1)
    stride = check_int("forecasting_windows", "stride", stride, 1)
    if len(series) < T + horizon:
        raise ValueError(f"forecasting_windows expected a series of at least T + horizon = {T + horizon} "
                         f"values, got {len(series)}")
    windows = np.lib.stride_tricks.sliding_window_view(series, T + horizon)[::stride]
    inputs = windows[:, :T].T[..., None].copy()
    targets = windows[:, horizon:].T[..., None].copy()
    return inputs, targets


def hello_example(dtype=np.float32):
    """The "hello" character example (Karpathy, "The Unreasonable Effectiveness of Recurrent
    Neural Networks", 2015): from each of h, e, l, l predict the next letter of "hello".

    Returns (vocab, inputs, targets): vocab has ids h=0, e=1, l=2, o=3 (this classic order,
    not sorted); inputs (4, 1, 4) one-hot for "hell"; targets (4, 1) int64 ids for "ello".
    Trivial baseline: a uniform guess costs log(4) nats per step.
    """
    vocab = CharVocab.from_chars("helo")
    inputs = np.eye(vocab.size, dtype=dtype)[vocab.encode("hell")][:, None, :]
    targets = vocab.encode("ello")[:, None]
    return vocab, inputs, targets
