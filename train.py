"""Train the stages of an experiment: python train.py experiment=<name> stages=[...] (same as `iin-train`)."""
from iin.cli import train_main

if __name__ == "__main__":
    train_main()
