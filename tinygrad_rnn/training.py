"""One training loop: the update PyTorch programs write by hand, and a progress bar around it.

    loss = model_loss(batch)                  # the forward pass, yours
    value = train_step(optimizer, loss, clip=1.0)   # zero_grad, backward, clip_grad_norm_, step

`fit(step, steps)` calls `step(i)` (which returns the loss as a float, e.g. by `train_step`) under a
tqdm bar that shows the exponentially smoothed loss; `on_step(done, progress)` runs after every step
(evaluation, logging, checkpoints) and stops the loop by returning True. The command line, the task
trainers and the benchmarks use these; so can a notebook.
"""
from tqdm import tqdm

from .nn.utils import clip_grad_norm_


def train_step(optimizer, loss, clip=0.0, scheduler=None):
    """One update from a computed loss: optimizer.zero_grad(), loss.backward(), clip the joint
    gradient norm of the optimizer's parameters to `clip` (0: no clipping), optimizer.step(), then
    scheduler.step() if given. Returns the loss as a float."""
    optimizer.zero_grad()
    loss.backward()
    if clip:
        clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.item()


class Progress:
    """A tqdm bar over `steps` updates showing the loss smoothed as s <- a s + (1 - a) loss."""

    def __init__(self, steps, desc="train", quiet=False, smoothing=0.95, unit="step"):
        self.bar = tqdm(total=steps, desc=desc, unit=unit, dynamic_ncols=True, disable=quiet)
        self.smoothing, self.smoothed, self.done = smoothing, None, 0

    def update(self, loss, postfix=None):
        """Count one step of loss `loss`; postfix(smoothed) -> str replaces the bar's "loss ..." text."""
        a = self.smoothing
        self.smoothed = loss if self.smoothed is None else a * self.smoothed + (1 - a) * loss
        self.done += 1
        self.bar.set_postfix_str(postfix(self.smoothed) if postfix else f"loss {self.smoothed:.4f}")
        self.bar.update()
        return self.smoothed

    def write(self, text):
        """Print a line above the bar."""
        self.bar.write(text)

    def close(self):
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fit(step, steps, desc="train", quiet=False, on_step=None, postfix=None, progress=None):
    """Call step(i) -> loss (a float) for i in range(steps) under a Progress bar (or the one given);
    after each, on_step(done, progress) may evaluate or log, and stops the loop by returning True.
    Returns the Progress: .done steps, .smoothed loss."""
    progress = progress or Progress(steps, desc, quiet)
    with progress:
        for i in range(steps):
            progress.update(step(i), postfix)
            if on_step is not None and on_step(progress.done, progress):
                break
    return progress
