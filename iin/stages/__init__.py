"""Training stages, run in order by `iin.cli.train`; each writes `<run_dir>/<stage>.pt`."""
from typing import Callable

from .autoencoder import train_autoencoder
from .classifier import train_classifier, train_oracle

STAGES: dict[str, Callable] = {
    "classifier": train_classifier,
    "oracle": train_oracle,
    "autoencoder": train_autoencoder,
}

__all__ = ["STAGES"]
