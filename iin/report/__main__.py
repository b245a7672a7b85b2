"""Rebuild a run's report.html from its metrics.json and figures: python -m iin.report outputs/<experiment>"""
import argparse
import os

from . import build_report


def main(argv: list[str] | None = None) -> None:
    """`iin-report RUN_DIR` / `python -m iin.report RUN_DIR`."""
    parser = argparse.ArgumentParser(prog="iin-report", description="Rebuild RUN_DIR/report.html from its "
                                     "metrics.json and figures/ (written by iin-evaluate / evaluate.py).")
    parser.add_argument("run_dir", help="a run directory that has been evaluated")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    from ..cli import user_errors

    if args.debug:
        os.environ["IIN_DEBUG"] = "1"
    with user_errors():
        print(build_report(args.run_dir))


if __name__ == "__main__":
    main()
