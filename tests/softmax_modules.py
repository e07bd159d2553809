"""nn.Softmax / nn.LogSoftmax for the export tests: the library's own when it has them (the core
rework adds them), else minimal stand-ins with the same name and `dim`, installed by `install`."""
import tinygrad_rnn as tg
from tinygrad_rnn import nn


class Softmax(nn.Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return tg.softmax(x, dim=self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return tg.log_softmax(x, dim=self.dim)


def install(monkeypatch):
    """(nn.Softmax, nn.LogSoftmax), patching in the stand-ins where the library lacks them."""
    for cls in (Softmax, LogSoftmax):
        if not hasattr(nn, cls.__name__):
            monkeypatch.setattr(nn, cls.__name__, cls, raising=False)
    return nn.Softmax, nn.LogSoftmax
