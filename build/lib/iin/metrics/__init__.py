"""Metrics: readouts, invertibility, re-encoding, preservation/invariance, swaps, dimensions, Frechet distance."""
from .readouts import color_readout, predict, readouts

__all__ = ["color_readout", "predict", "readouts"]
