"""The command line: `tinygrad-rnn {train,sample,task,gradcheck,bench,export}` (also `python -m tinygrad_rnn`).

train      a character language model on the built-in corpus (or --text FILE), truncated BPTT
sample     text from a checkpoint written by `train --save`
task       a classic sequence task (adding, copy, timer, mackey-glass) against its trivial baseline
gradcheck  finite-difference checks of RNN/LSTM/GRU gradients, fused and unrolled
bench      the benchmark suite's quick set (needs a source checkout)
export     a checkpoint to ONNX (--onnx FILE) and/or a PyTorch state dict (--torch FILE)

Expected failures (bad arguments, missing files, bad checkpoints) print one line to stderr and exit
non-zero (2 for usage errors). Ctrl-C during training stops it at the next step boundary, saves a
consistent checkpoint (parameters and optimizer state of the same step; more Ctrl-C during the save
or the exit are ignored) and exits with 130.
"""
import argparse
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time


import tinygrad_rnn as tg
from . import blas_threads, optim, training
from .apps import charlm, tasks
from .apps.gradcheck_table import gradcheck_table
from .data import CharVocab, TBPTTBatcher, load_text, train_val_split

PROG = "tinygrad-rnn"
DEFAULT_PRIME = "The "
OPTIMIZERS = {  # name -> (class, default lr, extra arguments)
    "adam": (optim.Adam, 1e-2, {}), "adamw": (optim.AdamW, 1e-2, {}),
    "rmsprop": (optim.RMSprop, 2e-3, {}), "adagrad": (optim.Adagrad, 5e-2, {}),
    "sgd": (optim.SGD, 0.5, {"momentum": 0.9}),
}


# The commands that train or run small models use one BLAS thread (blas_threads.one_thread_everywhere;
# the measurement is in benchmarks/RESULTS.md, "BLAS thread policy"); bench chooses its own threads.
ONE_BLAS_THREAD = ("train", "sample", "task", "gradcheck")


class CLIError(Exception):
    """An expected failure: reported as one line on stderr, exit status `code`."""

    def __init__(self, message, code=1, prog=PROG):
        super().__init__(message)
        self.code, self.prog = code, prog


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default in its help, unless it is None or empty."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, "") else super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (prog: error: ...) and exit status 2, no usage dump."""

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)", 2, self.prog)


def _number(kind, low, strict, below=None):
    """An argparse type: a `kind` number >= low (> low if strict), and < below if given."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if value < low or (strict and value == low) or (below is not None and not value < below):
            bound = f"{'>' if strict else '>='} {low}" + ("" if below is None else f" and < {below}")
            raise argparse.ArgumentTypeError(f"expected a value {bound}, got {text}")
        return value
    return parse


POSITIVE, NATURAL = _number(int, 0, True), _number(int, 0, False)
POSITIVE_FLOAT, NONNEG_FLOAT = _number(float, 0.0, True), _number(float, 0.0, False)
FRACTION = _number(float, 0.0, False, below=1.0)


def _one_line(e):
    return " ".join(str(e).split())


# --- train ----------------------------------------------------------------------------------------
_signalled = False  # a Ctrl-C has stopped a command in this process (see run)


class StopRequest:
    """While active, SIGINT (Ctrl-C) sets `requested` instead of raising KeyboardInterrupt anywhere.

    A KeyboardInterrupt can land in the middle of an optimizer step (parameters and optimizer state
    from different steps) or inside a numba kernel (where it surfaces as a SystemError); a flag read
    at step boundaries cannot. The handler only sets the flag (printing from it could re-enter a
    write already in progress). Outside the main thread signals cannot be caught: nothing changes.
    """

    def __init__(self):
        self.requested, self._previous = False, None

    def _handle(self, signum, frame):
        global _signalled
        self.requested = _signalled = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _read_text(path):
    try:
        return load_text(path)
    except OSError as e:
        raise CLIError(f"cannot read text file {path!r}: {e.strerror or e}") from None
    except ValueError as e:
        raise CLIError(_one_line(e)) from None


def _save(path, model, vocab, opt, step, args):
    """Write the checkpoint, with the training options (plain values) beside the weights."""
    options = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))}
    try:
        tg.save(charlm.checkpoint(model, vocab, opt, step, args=options), path)
    except OSError as e:
        raise CLIError(f"cannot write checkpoint {path!r}: {e.strerror or e}") from None


def _prepare_text(args):
    """(vocab, train ids, validation ids, sample prime), refusing what cannot work before training."""
    if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        raise CLIError(f"cannot write checkpoint {args.save!r}: its folder does not exist")
    text = _read_text(args.text)
    vocab = CharVocab(text)
    train_ids, val_ids = train_val_split(vocab.encode(text), args.val_fraction)
    longest = (len(train_ids) - 1) // args.batch
    if args.seq_len > longest:
        raise CLIError(f"--seq-len {args.seq_len} is too long: {len(train_ids)} training characters in "
                       f"--batch {args.batch} streams allow at most {max(longest, 0)}", 2)
    if args.prime is None:
        prime = DEFAULT_PRIME if set(DEFAULT_PRIME) <= set(vocab.chars) else ""
    else:
        prime = _check_prime(args.prime, vocab)
    return vocab, train_ids, val_ids, prime


def cmd_train(args):
    tg.manual_seed(args.seed)
    vocab, train_ids, val_ids, prime = _prepare_text(args)
    batcher = TBPTTBatcher(train_ids, args.batch, args.seq_len)
    model = charlm.CharLM(vocab.size, args.hidden, args.layers, args.model, args.dropout, args.embedding)
    cls, default_lr, extra = OPTIMIZERS[args.optim]
    lr = args.lr or default_lr
    opt = cls(model.parameters(), lr=lr, **extra)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, lr / 10) if args.schedule == "cosine" else None
    n_params = sum(p.numel() for p in model.parameters())

    def validate():
        return charlm.evaluate(model, val_ids, seq_len=args.seq_len) if len(val_ids) > 1 else (float("nan"),) * 2

    with StopRequest() as stop:
        print(f"{args.model.upper()} {args.layers}x{args.hidden}, {n_params:,} parameters, {vocab.size} characters; "
              f"{len(train_ids):,} training / {len(val_ids):,} validation characters; {args.optim} "
              f"lr {lr:g} ({args.schedule}), {args.steps} steps of {args.batch}x{args.seq_len}")
        batches, state, speed = batcher.batches(args.steps), None, 0.0
        start = time.perf_counter()

        def step(i):
            nonlocal state, speed
            began = time.perf_counter()
            inputs, targets = next(batches)
            if i % len(batcher) == 0:
                state = None
            loss, state = charlm.chunk_loss(model, inputs, targets, state)
            state = charlm.detach_state(state)
            value = training.train_step(opt, loss, args.clip, schedule)
            rate = inputs.size / (time.perf_counter() - began)
            speed = rate if i < 2 else 0.9 * speed + 0.1 * rate  # restart after step 1 (kernel loading)
            return value

        def after(done, progress):
            if args.eval_every and done % args.eval_every == 0 and done < args.steps and not stop.requested:
                nats, bpc = validate()
                progress.write(f"step {done}: validation loss {nats:.4f} nats, {bpc:.4f} bits/char")
            return stop.requested

        progress = training.Progress(args.steps, "train")
        try:
            training.fit(step, args.steps, on_step=after, progress=progress,
                         postfix=lambda avg: f"loss {avg:.3f}, bpc {avg / charlm.LN2:.3f}, {speed:,.0f} chars/s")
        except KeyboardInterrupt:  # raised by code (the signal itself only sets the flag)
            stop.requested = True
        done, avg = progress.done, progress.smoothed
        wall = time.perf_counter() - start
        if args.save:
            _save(args.save, model, vocab, opt, done, args)  # still under the handler: Ctrl-C waits for it
        if stop.requested:
            saved = f"; checkpoint saved to {args.save}" if args.save else ""
            print(f"{PROG}: interrupted after {done} of {args.steps} steps{saved}", file=sys.stderr)
            return 130
    nats, bpc = validate()
    print(f"done: {done} steps in {wall:.1f} s ({done * args.batch * args.seq_len / wall:,.0f} chars/s); "
          f"smoothed train loss {avg:.4f}; validation loss {nats:.4f} nats, {bpc:.4f} bits/char")
    if args.save:
        print(f"checkpoint saved to {args.save}")
    if args.sample_length:
        print(f"--- sample (temperature {args.temperature}) ---")
        print(charlm.generate(model, vocab, args.sample_length, prime, args.temperature))
    return 0


# --- sample ---------------------------------------------------------------------------------------
def load_model(path):
    """(model, vocab) from a `train --save` file; CLIError if it is not one."""
    try:
        ckpt = tg.load(path)
    except OSError as e:
        raise CLIError(f"cannot read checkpoint {path!r}: {e.strerror or e}") from None
    except ValueError as e:
        raise CLIError(_one_line(e)) from None
    try:
        return charlm.from_checkpoint(ckpt)
    except ValueError as e:
        raise CLIError(f"bad checkpoint {path!r}: {e}") from None


def _check_prime(prime, vocab):
    unknown = sorted(set(prime) - set(vocab.chars))
    if unknown:
        raise CLIError(f"--prime has characters not in the model's vocabulary of {vocab.size}: "
                       + " ".join(repr(c) for c in unknown), 2)
    return prime


def cmd_sample(args):
    model, vocab = load_model(args.checkpoint)
    prime = _check_prime(args.prime, vocab)
    if args.seed is not None:
        tg.manual_seed(args.seed)
    print(charlm.generate(model, vocab, args.length, prime, args.temperature))
    return 0


# --- task, gradcheck, bench -----------------------------------------------------------------------
def cmd_task(args):
    try:
        result = tasks.run(args.name, steps=args.steps, T=args.T, model=args.model, hidden=args.hidden,
                                 lr=args.lr, seed=args.seed)
    except ValueError as e:  # an option the task cannot take, e.g. timer with --T below its longest pulse
        raise CLIError(_one_line(e), 2) from None
    return 0 if result["metric"] < result["baseline"] else 1


def cmd_gradcheck(args):
    return 0 if gradcheck_table(args.model, args.impl) else 1


def cmd_bench(args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    if not os.path.isfile(os.path.join(root, "benchmarks", "__main__.py")):
        raise CLIError(f"bench runs the benchmarks/ folder of a source checkout, which an installed package does "
                       f"not ship (looked in {root}); in a clone of the repository, after `pip install -e .`, run "
                       f"`python -m benchmarks all --quick` from its root", 2)
    cmd = [sys.executable, "-m", "benchmarks", "all", "--quick", "--no-save"]
    return subprocess.run(cmd, cwd=root).returncode


# --- the parser -----------------------------------------------------------------------------------
def build_parser():
    parser = Parser(prog=PROG, epilog=__doc__.split("\n\n")[-1],
                    description="tinygrad_rnn from the command line: character language models, classic "
                                "sequence tasks, gradient checks and benchmarks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {tg.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    defaults = HelpFormatter

    p = sub.add_parser("train", help="train a character language model", formatter_class=defaults,
                       description="Train a character language model by truncated BPTT (the state is carried "
                                   "across chunks, detached) and show a sample at the end.")
    p.add_argument("--text", metavar="FILE", help="UTF-8 text to train on (default: the built-in corpus, "
                   "the Python reference documentation)")
    p.add_argument("--model", choices=sorted(charlm.LAYERS), default="lstm", help="recurrent layer")
    p.add_argument("--hidden", type=POSITIVE, default=256, help="hidden units per layer")
    p.add_argument("--layers", type=POSITIVE, default=1, help="stacked recurrent layers")
    p.add_argument("--embedding", type=NATURAL, default=64, help="embedding size; 0 feeds one-hot vectors")
    p.add_argument("--dropout", type=FRACTION, default=0.0, help="dropout between layers and before the head")
    p.add_argument("--seq-len", type=POSITIVE, default=64, help="BPTT truncation length (characters per chunk)")
    p.add_argument("--batch", type=POSITIVE, default=32, help="parallel streams per chunk")
    p.add_argument("--steps", type=POSITIVE, default=800, help="optimizer steps")
    p.add_argument("--optim", choices=sorted(OPTIMIZERS), default="adam", help="optimizer")
    p.add_argument("--lr", type=POSITIVE_FLOAT, help="initial learning rate (default: adam/adamw 1e-2, rmsprop 2e-3, "
                   "adagrad 5e-2, sgd 0.5 with momentum 0.9)")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="cosine",
                   help="learning rate: constant, or cosine decay to lr/10 over the steps")
    p.add_argument("--clip", type=NONNEG_FLOAT, default=1.0, help="clip the gradient norm to this (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, dropout and the sample")
    p.add_argument("--val-fraction", type=FRACTION, default=0.05, help="share of the text held out")
    p.add_argument("--eval-every", type=NATURAL, default=100, help="validate every N steps (0: only at the end)")
    p.add_argument("--save", metavar="CKPT", help="write a checkpoint here at the end (or on Ctrl-C)")
    p.add_argument("--sample-length", type=NATURAL, default=400, help="characters to sample at the end")
    p.add_argument("--temperature", type=NONNEG_FLOAT, default=0.8, help="sampling temperature")
    p.add_argument("--prime", help=f"text the sample starts from (default: {DEFAULT_PRIME!r} when the "
                   "vocabulary has its characters)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate text from a checkpoint", formatter_class=defaults,
                       description="Generate text from a checkpoint written by `train --save`.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--length", type=NATURAL, default=500, help="characters to generate after the prime")
    p.add_argument("--prime", default="", help="text to start from (printed first)")
    p.add_argument("--temperature", type=NONNEG_FLOAT, default=0.8, help="0 picks the most likely character")
    p.add_argument("--seed", type=int, help="seed for reproducible samples")
    p.set_defaults(func=cmd_sample)

    about = textwrap.fill("Train a small recurrent model on a classic task and compare its test metric with "
                          "the task's trivial baseline (exit status 1 if it does not beat it). Unset options "
                          "take per-task defaults.", 100)
    p = sub.add_parser("task", help="train on a classic sequence task", description=about + "\n\n"
                       + tasks.describe(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(tasks.TASKS))
    p.add_argument("--steps", type=POSITIVE, help="Adam steps (default: per task)")
    p.add_argument("--T", type=POSITIVE, help="sequence length; for copy, the delay (default: per task)")
    p.add_argument("--model", choices=sorted(charlm.LAYERS), help="(default: per task)")
    p.add_argument("--hidden", type=POSITIVE, help="hidden units (default: per task)")
    p.add_argument("--lr", type=POSITIVE_FLOAT, help="Adam learning rate (default: per task)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.set_defaults(func=cmd_task)

    p = sub.add_parser("gradcheck", help="check RNN/LSTM/GRU gradients by finite differences",
                       description=gradcheck_table.__doc__)
    p.add_argument("--model", choices=sorted(charlm.LAYERS), help="check only this layer type")
    p.add_argument("--impl", choices=["fused", "unrolled"], help="check only this implementation")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("bench", help="run the benchmark suite's quick set (source checkout only)",
                       description="Run `python -m benchmarks all --quick --no-save` in the source checkout.")
    p.set_defaults(func=cmd_bench)

    from . import cli_export  # it imports this module's CLIError and load_model, so only now
    cli_export.add_parser(sub, defaults)
    return parser


def _interrupt_unless_stopped(signum, frame):
    """Ctrl-C as Python's own handler (KeyboardInterrupt), until one has stopped a command."""
    if not _signalled:
        raise KeyboardInterrupt


def run():
    """The program (console script and python -m): main(), then exit with its status.

    Once a Ctrl-C has stopped training, further ones are ignored until the process is gone, so that
    they cannot turn the clean exit (checkpoint saved, status 130) into a traceback at shutdown.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, _interrupt_unless_stopped)
    status = main()
    if in_main_thread and _signalled:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # kept through shutdown, where Python's handler is gone
    sys.exit(status)


def main(argv=None):
    """Run the command line; returns the exit status (`run` passes it to sys.exit)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise CLIError("a command is required: train, sample, task, gradcheck, bench or export (see --help)", 2)
        if args.command in ONE_BLAS_THREAD:
            blas_threads.one_thread_everywhere()
        return args.func(args)
    except CLIError as e:
        print(f"{e.prog}: error: {e}", file=sys.stderr)
        return e.code
    except SystemExit as e:  # --help and --version
        return e.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
