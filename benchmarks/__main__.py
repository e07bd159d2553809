"""python -m benchmarks [engine|recurrent|programs|ctc|seq2seq|curvature|cell|threads|all] [--quick] [--no-save]"""
import argparse
import importlib

MODULES = {"engine": "engine_overhead", "recurrent": "recurrent", "programs": "pytorch_programs", "ctc": "ctc",
           "seq2seq": "seq2seq", "curvature": "curvature", "cell": "custom_cell", "threads": "blas_threads"}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=[*MODULES, "all"])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and configurations")
    parser.add_argument("--no-save", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    for name, module in MODULES.items():
        if args.which in (name, "all"):
            importlib.import_module(f"{__package__}.{module}").main(quick=args.quick, save=not args.no_save)


if __name__ == "__main__":
    main()
