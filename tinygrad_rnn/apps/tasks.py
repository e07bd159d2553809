"""Train a small recurrent model on a classic sequence task and score it against the trivial baseline.

Each task draws fresh training batches every step (the tasks are generators, so there is no
overfitting to speak of) and is scored on one fixed held-out batch. `run(name)` trains with the
task's defaults, prints a progress bar and one result line, and returns the numbers.
"""
import textwrap
import time

import numpy as np

from .. import data, nn
from ..autograd import no_grad
from ..optim import Adam
from ..random import manual_seed
from ..tensor import Tensor
from ..training import fit, train_step
from .charlm import LAYERS


class SequenceModel(nn.Module):
    """Recurrent layer -> Linear, read out at every step (readout="all") or at the last step only."""

    def __init__(self, model, n_in, hidden, n_out, readout):
        super().__init__()
        self.rnn = LAYERS[model](n_in, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.readout = readout

    def forward(self, x):
        out, _ = self.rnn(Tensor(x))
        if self.readout == "last":
            return self.head(out[-1])
        T, B, H = out.shape
        return self.head(out.reshape(T * B, H)).reshape(T, B, -1)


def _mse(pred, target):
    return nn.functional.mse_loss(pred, Tensor(target))


def _cross_entropy(logits, target):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


class Task:
    """A task of sequence length T; subclasses say how to draw batches and what the baseline is."""

    def __init__(self, T):
        self.T = T


class Adding(Task):
    """Sum the two marked numbers of a length-T sequence (read out at the last step); MSE."""
    name, defaults = "adding", dict(model="lstm", T=50, steps=1000, hidden=64, lr=1e-2, batch=64)
    n_in, n_out, readout, loss, metric = 2, 1, "last", staticmethod(_mse), "MSE"

    def batch(self, size, rng):
        return data.adding_problem(size, self.T, rng)

    def baseline(self, inputs, targets):
        return data.ADDING_BASELINE_MSE, "always answering 1"


class Copy(Task):
    """Read 10 symbols, wait T (the delay) steps, write them back after the delimiter; cross-entropy."""
    name, defaults = "copy", dict(model="gru", T=10, steps=1000, hidden=64, lr=2e-2, batch=64)
    n_in, n_out, readout, loss, metric = 10, 10, "all", staticmethod(_cross_entropy), "cross-entropy"

    def batch(self, size, rng):
        return data.copy_memory(size, n_symbols=8, length=10, delay=self.T, rng=rng)

    def baseline(self, inputs, targets):
        return data.copy_memory_baseline(8, 10, self.T), "blanks, then uniform guesses"


class Timer(Task):
    """Output 0.5 for the commanded number of steps after each trigger; MSE over all steps."""
    name, defaults = "timer", dict(model="lstm", T=100, steps=600, hidden=64, lr=1e-2, batch=32)
    n_in, n_out, readout, loss, metric = 2, 1, "all", staticmethod(_mse), "MSE"

    def batch(self, size, rng):
        return data.timer_task(size, self.T, rng)

    def baseline(self, inputs, targets):
        return float(targets.var()), "always answering the mean target"


class MackeyGlass(Task):
    """One-step forecasts of the (standardised) Mackey-Glass series over windows of T steps; MSE."""
    name, defaults = "mackey-glass", dict(model="lstm", T=50, steps=1000, hidden=32, lr=1e-2, batch=32)
    n_in, n_out, readout, loss, metric = 1, 1, "all", staticmethod(_mse), "one-step MSE"

    def __init__(self, T):
        super().__init__(T)
        series = data.mackey_glass(3000)
        series = ((series - series.mean()) / series.std()).astype(np.float32)
        cut = int(len(series) * 0.8)
        self.train = data.forecasting_windows(series[:cut], T)
        self.test = data.forecasting_windows(series[cut:], T, stride=T // 2 or 1)

    def batch(self, size, rng):
        pick = rng.integers(0, self.train[0].shape[1], size)
        return self.train[0][:, pick], self.train[1][:, pick]

    def test_batch(self):
        return self.test

    def baseline(self, inputs, targets):
        return float(((targets - inputs) ** 2).mean()), "persistence: answering the current value"


TASKS = {t.name: t for t in (Adding, Copy, Timer, MackeyGlass)}


def describe():
    """One line per task: name, defaults and what it asks."""
    return "\n".join(textwrap.fill(f"{t.__doc__} Defaults: " + ", ".join(f"{k} {v}" for k, v in t.defaults.items()),
                                   width=100, initial_indent=f"  {name:14s}", subsequent_indent=" " * 16)
                     for name, t in TASKS.items())


def run(name, steps=None, T=None, model=None, hidden=None, lr=None, seed=0, batch=None, quiet=False):
    """Train on task `name` and print/return {'metric', 'baseline', ...}; unset options take the defaults."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    cls = TASKS[name]
    opts = dict(cls.defaults)
    given = dict(model=model, T=T, steps=steps, hidden=hidden, lr=lr, batch=batch)
    opts.update({k: v for k, v in given.items() if v is not None})
    manual_seed(seed)
    task = cls(opts["T"])
    rng = np.random.default_rng(seed)
    test = task.test_batch() if hasattr(task, "test_batch") else task.batch(1000, np.random.default_rng(seed + 1))
    net = SequenceModel(opts["model"], task.n_in, opts["hidden"], task.n_out, task.readout)
    opt = Adam(net.parameters(), lr=opts["lr"])
    start = time.perf_counter()

    def step(_):
        inputs, targets = task.batch(opts["batch"], rng)
        return train_step(opt, task.loss(net(inputs), targets), clip=1.0)

    fit(step, opts["steps"], desc=name, quiet=quiet)
    with no_grad():
        metric = task.loss(net(test[0]), test[1]).item()
    baseline, how = task.baseline(*test)
    wall = time.perf_counter() - start
    verdict = "beats" if metric < baseline else "does NOT beat"
    setup = f"T={opts['T']}, {opts['model'].upper()} {opts['hidden']} hidden, {opts['steps']} steps, {wall:.1f} s"
    print(f"{name} ({setup}): test {task.metric} {metric:.4g} vs baseline {baseline:.4g} ({how}): {verdict} the baseline")
    return dict(task=name, metric=metric, baseline=baseline, wall=wall, **opts)
