"""Run the PyTorch programs of this folder under PyTorch, or under tinygrad_rnn with only their
import lines changed, from the same initial weights; used by tests/test_pytorch_programs.py and
benchmarks/pytorch_programs.py.

Every program exposes build(**options) -> model (a Module, or a list of leaf tensors for
min_char_rnn), main(model, **options) -> (training losses, evaluation losses) — the original's
whole run, trimmed — and make_step(model, **options) -> a function running one training step.
"""
import contextlib
import dataclasses
import os
import re
import types

HERE = os.path.dirname(os.path.abspath(__file__))

# Each import line the programs use and its tinygrad_rnn counterpart: the only edit allowed.
IMPORTS = {
    "import torch": "import tinygrad_rnn as torch",
    "import torch.nn as nn": "from tinygrad_rnn import nn",
    "import torch.nn.functional as F": "import tinygrad_rnn.nn.functional as F",
    "import torch.optim as optim": "from tinygrad_rnn import optim",
}
_TORCH_IMPORT = re.compile(r"^\s*(import|from)\s+torch\b")


def source(program):
    with open(os.path.join(HERE, program + ".py"), encoding="utf-8") as f:
        return f.read()


def translate(text):
    """The program with its torch import lines replaced by IMPORTS; any other torch import is an error."""
    lines = []
    for line in text.splitlines(keepends=True):
        if _TORCH_IMPORT.match(line):
            statement = line.strip()
            if statement not in IMPORTS:
                raise ValueError(f"no tinygrad_rnn counterpart for the import line {statement!r}; add it to IMPORTS")
            line = line.replace(statement, IMPORTS[statement])
        lines.append(line)
    return "".join(lines)


def load(program, backend):
    """The program executed as a module under backend 'torch' (as written) or 'ours' (translated)."""
    if backend not in ("torch", "ours"):
        raise ValueError(f"backend must be 'torch' or 'ours', got {backend!r}")
    path = os.path.join(HERE, program + ".py")
    text = source(program) if backend == "torch" else translate(source(program))
    module = types.ModuleType(f"pytorch_program_{program}_{backend}")
    module.__file__ = path
    exec(compile(text, path, "exec"), module.__dict__)
    return module


@dataclasses.dataclass(frozen=True)
class Case:
    """One run of a program: build(**build) then main(model, **main).

    argv, when given, is parsed by the program's get_args into `args`, passed to build and main."""
    program: str
    build: dict = dataclasses.field(default_factory=dict)
    main: dict = dataclasses.field(default_factory=dict)
    argv: tuple = None

    def options(self, module, given=()):
        opts = dict(given)
        if self.argv is not None:
            opts["args"] = module.get_args(self.argv)
        return opts

    def build_model(self, module):
        return module.build(**self.options(module, self.build))

    def run(self, module, model):
        return module.main(model, **self.options(module, self.main))

    def step(self, module, model):
        return module.make_step(model, **self.options(module))


def same_start(case, torch_module, our_module):
    """(torch model, our model) with equal initial weights: our Module loads the torch model's
    state_dict; raw parameter tensors (min_char_rnn) are copied into new leaf tensors."""
    torch_model = case.build_model(torch_module)
    if isinstance(torch_model, (list, tuple)):
        return torch_model, [our_module.torch.tensor(p.detach().numpy(), requires_grad=True) for p in torch_model]
    ours = case.build_model(our_module)
    ours.load_state_dict(torch_model.state_dict())
    return torch_model, ours


@contextlib.contextmanager
def default_dtype(name, *modules):
    """Each module's torch (PyTorch or tinygrad_rnn) with the default dtype `name` ('float64'), restored after."""
    saved = [(m.torch, m.torch.get_default_dtype()) for m in modules]
    try:
        for m in modules:
            m.torch.set_default_dtype(getattr(m.torch, name))
        yield
    finally:
        for lib, dtype in saved:
            lib.set_default_dtype(dtype)
