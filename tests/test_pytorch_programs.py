"""Four public PyTorch programs (tests/pytorch_programs/, trimmed copies written from the originals)
run under tinygrad_rnn with only their import lines changed.

Our run must train (its loss falls). With PyTorch installed, the original runs too, from the same
initial weights and data, in float64, and every loss of the run — each training step's, then the
evaluation's — must agree to 1e-9 relative, and so must the trained weights. Any edit a program
would need beyond its imports makes these tests fail.
"""
import math

import numpy as np
import pytest

from pytorch_programs import harness
from pytorch_programs.harness import Case

PROGRAMS = ("word_language_model", "char_rnn_classification", "char_rnn_generation", "min_char_rnn")

# Deterministic runs for the comparison with PyTorch: dropout off, a few dozen steps.
PARITY = {
    "word_language_model-LSTM": Case("word_language_model", argv=("--model", "LSTM", "--dropout", "0")),
    "word_language_model-GRU-tied": Case("word_language_model", argv=(
        "--model", "GRU", "--tied", "--lr", "5", "--dropout", "0")),
    "word_language_model-RNN_TANH": Case("word_language_model", argv=(
        "--model", "RNN_TANH", "--lr", "2", "--dropout", "0")),
    "word_language_model-LSTM-AdamW": Case("word_language_model", argv=(
        "--use-optimizer", "--lr", "0.003", "--dropout", "0", "--epochs", "1")),
    "char_rnn_classification": Case("char_rnn_classification", main=dict(n_iters=40, print_every=20, n_confusion=20)),
    "char_rnn_generation": Case("char_rnn_generation", build=dict(dropout=0.0), main=dict(n_iters=40, print_every=20)),
    # Adagrad's first steps amplify rounding differences tenfold a step: few steps, still every idiom
    "min_char_rnn": Case("min_char_rnn", main=dict(n_iters=8, sample_every=4)),
}

# Our runs alone, with the programs' own options (dropout on): long enough for the loss to fall.
TRAINING = {
    "word_language_model": Case("word_language_model", argv=()),
    "char_rnn_classification": Case("char_rnn_classification", main=dict(n_iters=200, print_every=100, n_confusion=20)),
    "char_rnn_generation": Case("char_rnn_generation", main=dict(n_iters=200, print_every=100)),
    "min_char_rnn": Case("min_char_rnn", main=dict(n_iters=60, sample_every=30)),
}


@pytest.mark.parametrize("program", PROGRAMS)
def test_only_import_lines_are_translated(program):
    text = harness.source(program)
    changed = [(a, b) for a, b in zip(text.splitlines(), harness.translate(text).splitlines()) if a != b]
    assert changed, f"{program} imports nothing of torch"
    assert all(a.strip() in harness.IMPORTS and b.strip() == harness.IMPORTS[a.strip()] for a, b in changed)


def test_an_unmapped_torch_import_is_refused():
    with pytest.raises(ValueError, match="torch.utils.data"):
        harness.translate("import torch\nfrom torch.utils.data import DataLoader\n")


@pytest.mark.parametrize("name", TRAINING)
def test_program_trains_under_tinygrad_rnn(name):
    case = TRAINING[name]
    module = harness.load(case.program, "ours")
    losses, evaluation = case.run(module, case.build_model(module))
    assert all(math.isfinite(x) for x in losses + [v for v in evaluation if not isinstance(v, str)])
    k = max(len(losses) // 4, 1)
    assert np.mean(losses[-k:]) < np.mean(losses[:k]), f"{name}: the loss did not fall: {losses}"


def _weights(model):
    if isinstance(model, list):
        return [p.detach().numpy() for p in model]
    return [v.detach().numpy() for v in model.state_dict().values()]


@pytest.mark.parametrize("name", PARITY)
def test_program_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    case = PARITY[name]
    theirs, ours = harness.load(case.program, "torch"), harness.load(case.program, "ours")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with harness.default_dtype("float64", theirs, ours):
            torch_model, our_model = harness.same_start(case, theirs, ours)
            expected, expected_eval = case.run(theirs, torch_model)
            got, got_eval = case.run(ours, our_model)
    finally:
        torch.set_num_threads(threads)
    assert len(got) == len(expected) and len(got_eval) == len(expected_eval)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0, err_msg=f"{name}: training losses")
    if all(isinstance(x, str) for x in expected_eval):  # sampled text
        assert got_eval == expected_eval
    else:
        np.testing.assert_allclose(got_eval, expected_eval, rtol=1e-9, atol=0, err_msg=f"{name}: evaluation")
    # an element near zero is the sum of updates that cancel, so its rounding follows the weight's scale,
    # not its own (min-char-rnn's Whh on an AMD EPYC: 1.6e-11 apart at 5e-5, its largest element 0.3).
    # How far the scale's rounding reaches depends on the machine's BLAS kernels: on a Zen 3 EPYC
    # (OpenBLAS's Haswell kernels) min-char-rnn's Why differed by 1.4e-10 at -6e-3 (2.8e-10 of its
    # scale; the median element 3e-13, the losses 3e-12 relative). A wrong update is off by far more.
    for w_ours, w_torch in zip(_weights(our_model), _weights(torch_model), strict=True):
        np.testing.assert_allclose(w_ours, w_torch, rtol=1e-8, atol=1e-9 * np.abs(w_torch).max(),
                                   err_msg=f"{name}: trained weights")
