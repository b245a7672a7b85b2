"""Interpreter: load a run, sample a layer's invariances, mix them, and edit semantic concepts.

Inputs: images (B, C, H, W) in [0, 1] as torch tensors or numpy arrays (uint8 is read as 0..255), on any
device; outputs come back on the interpreter's device (`Interpreter.load(run_dir, device=...)`, `.to(device)`).
Every generating method returns an `Edit` (images and the model's logits): (B, C, H, W) when it makes one
image per input, (B, n, C, H, W) when it makes n (see `Edit`). Mistakes raise `iin.errors.APIError` (a layer
without a trained cINN: `LayerError`), one line that names the method.
"""
from .concepts import ConceptMethods
from ..backbones import forward_from
from .edit import Edit


class Interpreter(ConceptMethods):
    """The trained networks of one run: classifier f, autoencoder (E, D), a cINN tau_l per layer, a
    DisentanglingINN T per concept target. `Interpreter.load(run_dir, device="cpu")`; `examples(n)` draws
    images and their factors from the run's data."""


__all__ = ["Edit", "Interpreter", "forward_from"]
