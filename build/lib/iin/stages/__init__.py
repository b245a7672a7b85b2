"""Training stages, run in order by `iin.cli.train`; each writes `<run_dir>/<stage>.pt`."""
from typing import Callable

from .autoencoder import train_autoencoder
from .classifier import train_classifier, train_oracle
from .zhang import train_zhang
from .concepts import train_concepts
from .invariances import train_invariances

STAGES: dict[str, Callable] = {
    "classifier": train_classifier,
    "oracle": train_oracle,
    "autoencoder": train_autoencoder,
    "zhang": train_zhang,
    "invariances": train_invariances,
    "concepts": train_concepts,
}

__all__ = ["STAGES"]
