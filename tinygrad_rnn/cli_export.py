"""`tinygrad-rnn export CKPT --onnx FILE --torch FILE`: a trained character language model out to ONNX
Runtime (an .onnx file) or PyTorch (a state dict of plain tensors), each checked against our forward
when the runtime is installed. Failures are one line, as in the other commands."""
import json
import os

import numpy as np

from .autograd import no_grad
from .onnx import OPSET

CHECK_TOL = 1e-4


def add_parser(sub, formatter_class):
    p = sub.add_parser("export", help="export a checkpoint to ONNX and/or PyTorch", formatter_class=formatter_class,
                       description="Export a `train --save` checkpoint: --onnx writes an ONNX model (opset "
                                   f"{OPSET}; "
                                   "input ids (time, batch), outputs logits and final states; the vocabulary in "
                                   "its metadata), --torch a PyTorch state dict (embed.*, rnn.*, head.*) that "
                                   "torch.nn.Embedding, LSTM/GRU/RNN and Linear load.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--onnx", metavar="FILE", help="write an ONNX model here (needs the onnx package)")
    p.add_argument("--torch", metavar="FILE", help="write a PyTorch state dict here (needs torch)")
    p.set_defaults(func=cmd_export)


def _check_folder(path, what):
    from .cli import CLIError
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise CLIError(f"cannot write {what} {path!r}: its folder does not exist")


def _compare(expected, got, runtime):
    from .cli import CLIError
    worst = max(float(np.max(np.abs(np.asarray(e) - np.asarray(g)))) for e, g in zip(expected, got))
    if not worst <= CHECK_TOL:
        raise CLIError(f"the exported model disagrees with ours in {runtime}: largest difference {worst:.3g}")
    return f"checked in {runtime}: largest difference {worst:.1e}"


def _example(model, vocab):
    """Ids (8, 2) covering the vocabulary, and our outputs on them (logits, then the state tensors)."""
    ids = (np.arange(16) % vocab.size).reshape(8, 2)
    model.eval()
    with no_grad():
        logits, state = model(ids)
    states = state if isinstance(state, tuple) else (state,)
    return ids, [logits.detach().numpy()] + [s.detach().numpy() for s in states]


def _export_onnx(model, vocab, path):
    from .cli import CLIError
    try:
        from . import onnx as tg_onnx
        import onnx  # noqa: F401  (the optional dependency)
    except ImportError:
        raise CLIError("--onnx needs the onnx package: pip install 'tinygrad_rnn[onnx]'") from None
    ids, expected = _example(model, vocab)
    try:
        tg_onnx.export(model, ids, path, metadata={"vocab": json.dumps(vocab.to_dict()),
                                                   "config": json.dumps(model.config())})
    except OSError as e:
        raise CLIError(f"cannot write ONNX file {path!r}: {e.strerror or e}") from None
    try:
        import onnxruntime
    except ImportError:
        return "not run (onnxruntime is not installed)"
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return _compare(expected, session.run(None, {"ids": ids}), "onnxruntime")


def _export_torch(model, vocab, path):
    from .cli import CLIError
    from .interop import to_torch
    try:
        import torch
    except ImportError:
        raise CLIError("--torch needs PyTorch: pip install torch") from None
    twin = to_torch(model).eval()
    try:
        torch.save(twin.state_dict(), path)
    except OSError as e:
        raise CLIError(f"cannot write PyTorch file {path!r}: {e.strerror or e}") from None
    ids, expected = _example(model, vocab)
    with torch.no_grad():
        logits, state = twin(torch.from_numpy(ids))
    got = [logits.numpy()] + [s.numpy() for s in (state if isinstance(state, tuple) else (state,))]
    parts = ", ".join(f"{name}.* -> torch.nn.{child!r}" for name, child in twin.named_children()
                      if any(True for _ in child.parameters()))
    return f"{parts}; {_compare(expected, got, 'PyTorch')}"


def cmd_export(args):
    from .cli import CLIError, load_model
    if not args.onnx and not args.torch:
        raise CLIError("export needs --onnx FILE and/or --torch FILE (see tinygrad-rnn export --help)", 2)
    for path, what in ((args.onnx, "ONNX file"), (args.torch, "PyTorch file")):
        if path:
            _check_folder(path, what)
    model, vocab = load_model(args.checkpoint)
    if args.onnx:
        print(f"wrote {args.onnx}: ONNX opset {OPSET}, ids (time, batch) -> logits, h_n"
              f"{', c_n' if model.model_type == 'lstm' else ''}; {_export_onnx(model, vocab, args.onnx)}")
    if args.torch:
        print(f"wrote {args.torch}: PyTorch state dict; {_export_torch(model, vocab, args.torch)}")
    return 0
