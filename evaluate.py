"""Evaluate a run directory: python evaluate.py run_dir=outputs/<experiment> (same as `iin-evaluate`)."""
from iin.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()
