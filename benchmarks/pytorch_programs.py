"""The PyTorch programs of tests/pytorch_programs/ as a benchmark: ms per training step, ours vs PyTorch.

Each program runs as written under PyTorch and, with only its import lines changed, under
tinygrad_rnn, from the same initial weights, on the same data and sizes (float32, the programs'
own options). A training step is the program's own (make_step: forward, loss, backward, update).
The two run in alternating blocks of steps with a pause between blocks, so that machine noise and
thermal drift hit both alike; the table gives each one's median over blocks, on 1 and 2 threads.
"""
import contextlib
import importlib.util
import io
import os

from threadpoolctl import threadpool_limits

from .common import block_medians, fmt, record, table

_HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "tests", "pytorch_programs", "harness.py")


def _harness():
    spec = importlib.util.spec_from_file_location("pytorch_programs_harness", _HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(harness):
    Case = harness.Case
    return {
        "word_language_model LSTM": Case("word_language_model", argv=("--model", "LSTM")),
        "word_language_model GRU": Case("word_language_model", argv=("--model", "GRU")),
        "word_language_model RNN_TANH": Case("word_language_model", argv=("--model", "RNN_TANH")),
        "char_rnn_classification": Case("char_rnn_classification"),
        "char_rnn_generation": Case("char_rnn_generation"),
        "min_char_rnn": Case("min_char_rnn"),
    }


def _steps(harness, case):
    """{'ours': step, 'torch': step} from equal weights; ours is absent (with the reason) if it fails."""
    theirs = harness.load(case.program, "torch")
    try:
        ours = harness.load(case.program, "ours")
        torch_model, our_model = harness.same_start(case, theirs, ours)
        fns = {"ours": case.step(ours, our_model)}
        fns["ours"]()
    except Exception as e:  # the row says why ours could not run
        return {"torch": case.step(theirs, case.build_model(theirs))}, f"{type(e).__name__}: {e}"
    fns["torch"] = case.step(theirs, torch_model)
    return fns, None


def main(quick=False, save=True):
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: this benchmark compares with it, skipped")
        return None
    harness = _harness()
    rounds, per_round, pause = (5, 5, 0.05) if quick else (10, 10, 0.2)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for name, case in cases(harness).items():
                with contextlib.redirect_stdout(io.StringIO()):  # the programs' own printing
                    fns, failure = _steps(harness, case)
                ms = {k: v * 1e3 for k, v in block_medians(fns, rounds * per_round, rounds=rounds, pause=pause).items()}
                ours = ms.get("ours")
                rows.append([name, threads, fmt(ours) if ours else f"failed ({failure})"[:90], fmt(ms["torch"]),
                             fmt(ours / ms["torch"], 2) if ours else "–"])
    record(f"PyTorch programs: ms per training step (float32, median over {rounds} alternating blocks of {per_round} steps)",
           table(["program", "threads", "tinygrad_rnn ms", "PyTorch ms", "ours / PyTorch"], rows), save)
    return rows


if __name__ == "__main__":
    main()
