"""The one training loop: train_step is PyTorch's five-line update, fit runs steps under a bar."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn.utils import clip_grad_norm_
from tinygrad_rnn.training import Progress, fit, train_step


def _model_and_batch(seed=0):
    tg.manual_seed(seed)
    model = nn.Linear(3, 2, dtype=np.float64)
    rng = np.random.default_rng(seed)
    x, y = tg.tensor(rng.standard_normal((5, 3))), tg.tensor(rng.standard_normal((5, 2)))
    return model, x, y


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_train_step_is_the_hand_written_update(clip):
    model, x, y = _model_and_batch()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    twin, _, _ = _model_and_batch()
    twin_opt = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        value = train_step(opt, ((model(x) - y) ** 2).mean(), clip=clip)
        twin_opt.zero_grad()
        loss = ((twin(x) - y) ** 2).mean()
        loss.backward()
        if clip:
            clip_grad_norm_(twin.parameters(), clip)
        twin_opt.step()
        assert value == loss.item()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    if clip:  # clipping changed the result
        plain, _, _ = _model_and_batch()
        plain_opt = optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            train_step(plain_opt, ((plain(x) - y) ** 2).mean())
        assert not np.allclose(plain.weight.detach().numpy(), model.weight.detach().numpy())


def test_train_step_steps_the_scheduler():
    model, x, y = _model_and_batch()
    opt = optim.SGD(model.parameters(), lr=1.0)
    schedule = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train_step(opt, (model(x) ** 2).mean(), scheduler=schedule)
    train_step(opt, (model(x) ** 2).mean(), scheduler=schedule)
    assert opt.param_groups[0]["lr"] == 0.25


def test_fit_runs_every_step_smooths_the_loss_and_stops_when_asked():
    losses = [4.0, 2.0, 1.0, 8.0]
    calls, seen = [], []
    progress = fit(lambda i: calls.append(i) or losses[i], 4, quiet=True,
                   on_step=lambda done, p: seen.append((done, p.smoothed)) and False)
    assert calls == [0, 1, 2, 3] and progress.done == 4
    expected, s = [], None
    for v in losses:
        s = v if s is None else 0.95 * s + 0.05 * v
        expected.append(s)
    assert [d for d, _ in seen] == [1, 2, 3, 4]
    np.testing.assert_allclose([v for _, v in seen], expected)
    stopped = fit(lambda i: 1.0, 10, quiet=True, on_step=lambda done, p: done == 3)
    assert stopped.done == 3


def test_progress_postfix_and_a_real_training_run(capsys):
    model, x, y = _model_and_batch()
    opt = optim.Adam(model.parameters(), lr=0.05)
    initial = ((model(x) - y) ** 2).mean().item()
    progress = Progress(60, "fit-test")
    fit(lambda i: train_step(opt, ((model(x) - y) ** 2).mean()), 60, progress=progress,
        postfix=lambda s: f"smoothed {s:.3f}")
    err = capsys.readouterr().err
    assert "fit-test" in err and "smoothed" in err and "60/60" in err
    final = ((model(x) - y) ** 2).mean().item()
    assert final < 0.7 * initial and progress.smoothed > final  # the smoothed loss lags the falling loss
