"""Evaluate a run directory: python evaluate.py run_dir=outputs/<experiment>"""
import hydra
from omegaconf import DictConfig

from iin.cli import evaluate


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
