"""python -m benchmarks [engine|recurrent|programs|ctc|seq2seq|curvature|cell|threads|all] [--quick] [--no-save]"""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("which", nargs="?", default="all",
                        choices=["engine", "recurrent", "programs", "ctc", "seq2seq", "curvature", "cell", "threads",
                                 "all"])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and configurations")
    parser.add_argument("--no-save", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    if args.which in ("engine", "all"):
        from . import engine_overhead
        engine_overhead.main(repeats=5 if args.quick else 30, save=not args.no_save)
    if args.which in ("recurrent", "all"):
        from . import recurrent
        recurrent.main(quick=args.quick, save=not args.no_save)
    if args.which in ("programs", "all"):
        from . import pytorch_programs
        pytorch_programs.main(quick=args.quick, save=not args.no_save)
    if args.which in ("ctc", "all"):
        from . import ctc
        ctc.main(quick=args.quick, save=not args.no_save)
    if args.which in ("seq2seq", "all"):
        from . import seq2seq
        seq2seq.main(quick=args.quick, save=not args.no_save)
    if args.which in ("curvature", "all"):
        from . import curvature
        curvature.main(quick=args.quick, save=not args.no_save)
    if args.which in ("cell", "all"):
        from . import custom_cell
        custom_cell.main(quick=args.quick, save=not args.no_save)
    if args.which in ("threads", "all"):
        from . import blas_threads
        blas_threads.main(quick=args.quick, save=not args.no_save)


if __name__ == "__main__":
    main()
