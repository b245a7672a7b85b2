"""Rebuild a run's report.html from its metrics.json and figures: python -m iin.report outputs/<experiment>"""
import sys

from . import build_report

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m iin.report RUN_DIR")
    print(build_report(sys.argv[1]))
