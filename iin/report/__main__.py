"""Rebuild a run's report.html from its metrics.json and figures: python -m iin.report outputs/<experiment>"""
import argparse

from ..errors import UserError
from . import build_report


def main(argv: list[str] | None = None) -> None:
    """`iin-report RUN_DIR` / `python -m iin.report RUN_DIR`."""
    parser = argparse.ArgumentParser(prog="iin-report", description="Rebuild RUN_DIR/report.html from its "
                                     "metrics.json and figures/ (written by iin-evaluate / evaluate.py).")
    parser.add_argument("run_dir", help="a run directory that has been evaluated")
    args = parser.parse_args(argv)
    try:
        print(build_report(args.run_dir))
    except UserError as err:  # one line, no traceback: the user gave a directory that is not evaluated
        parser.exit(2, f"iin-report: error: {err}\n")


if __name__ == "__main__":
    main()
