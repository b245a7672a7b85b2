"""Train the stages of an experiment: python train.py experiment=<name> stages=[...]"""
import hydra
from omegaconf import DictConfig

from iin.cli import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
