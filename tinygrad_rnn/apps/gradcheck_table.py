"""The CLI's `gradcheck`: finite-difference checks of every recurrent layer, as a table.

Each row is one layer type and implementation (2 layers, bidirectional, variable lengths, float64):
tinygrad_rnn.gradcheck_report in projection mode, input by input, formatted as each parameter's
worst error over its tolerance, and the verdict of a full-Jacobian check of a smaller layer.
"""
import numpy as np

import tinygrad_rnn as tg

GRADCHECK_MODELS = [("RNN tanh", "RNN", {"nonlinearity": "tanh"}), ("RNN relu", "RNN", {"nonlinearity": "relu"}),
                    ("LSTM", "LSTM", {}), ("GRU", "GRU", {})]
GRADCHECK_COLUMNS = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "input", "h0", "c0"]
ATOL, RTOL = 1e-7, 1e-5  # the projection check: |analytic - numeric| <= ATOL + RTOL |numeric|


def _layer_case(kind, extra, impl, T, B, I, H, layers, lengths, rng):
    """A float64 bidirectional layer, its named differentiable inputs and fn() -> its outputs."""
    layer = getattr(tg.nn, kind)(I, H, num_layers=layers, bidirectional=True, impl=impl, dtype=np.float64, **extra)
    x = tg.tensor(rng.standard_normal((T, B, I)), dtype=np.float64, requires_grad=True)
    states = [tg.tensor(rng.standard_normal((2 * layers, B, H)), dtype=np.float64, requires_grad=True)
              for _ in range(2 if kind == "LSTM" else 1)]
    hx = tuple(states) if kind == "LSTM" else states[0]

    def fn(*_):
        out, final = layer(x, hx, lengths=lengths)
        return (out, *final) if kind == "LSTM" else (out, final)

    named = [("input", x)] + list(zip(("h0", "c0"), states)) + list(layer.named_parameters())
    return fn, named


def _column(name):
    """weight_ih_l1_reverse -> weight_ih: a column holds the worst over layers and directions."""
    return name.split("_l")[0] if "_l" in name else name


def gradcheck_table(only_model=None, only_impl=None):
    """Finite-difference checks (float64, central differences) of RNN (tanh, relu), LSTM and GRU with
    impl="fused" and impl="unrolled": 2 layers, bidirectional, variable lengths. Each column is the
    worst |analytic - numeric| / (atol + rtol |numeric|) of one parameter's directional derivatives
    (atol 1e-7, rtol 1e-5; weights and biases worst over layers and directions; <= 1 passes), then
    the verdict of a full-Jacobian check of a smaller layer; exits 1 if any check fails. --model and
    --impl (only_model, only_impl) select rows."""
    header = ["model", "impl"] + GRADCHECK_COLUMNS + ["full", "result"]
    rows, all_ok = [], True
    for label, kind, extra in GRADCHECK_MODELS:
        if only_model and kind != only_model.upper():
            continue
        for impl in [only_impl] if only_impl else ["fused", "unrolled"]:
            tg.manual_seed(0)
            rng = np.random.default_rng(0)
            fn, named = _layer_case(kind, extra, impl, 6, 3, 4, 5, 2, [6, 4, 2], rng)
            report = tg.gradcheck_report(fn, [t for _, t in named], atol=ATOL, rtol=RTOL, mode="projection",
                                         n_projections=2, per_input=True)
            ratios = {}
            for check in report:
                column = _column(named[check.input][0])
                ratios[column] = max(ratios.get(column, 0.0), check.error / check.tolerance)
            small_fn, small = _layer_case(kind, extra, impl, 3, 2, 2, 2, 1, [3, 2], rng)
            full = tg.gradcheck_report(small_fn, [t for _, t in small], mode="full")
            ok = report.passed and full.passed
            all_ok &= ok
            rows.append([label, impl] + [f"{ratios[c]:.2g}" if c in ratios else "-" for c in GRADCHECK_COLUMNS]
                        + ["ok" if full.passed else "FAIL", "ok" if ok else "FAIL"])
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"gradcheck {'passed' if all_ok else 'FAILED'}: each column is error / (atol {ATOL:g} + rtol {RTOL:g} "
          "* |numeric|) and must be <= 1")
    return all_ok
