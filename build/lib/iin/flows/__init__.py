"""Everything invertible, with FrEIA's (out, log_det) contract."""
from .blocks import coupling_stack, subnet_fc
from .cinn import InvarianceCINN
from .dinn import RESIDUAL, DisentanglingINN, allocate_dims, constant_units
from .embedders import ConvEmbedder, DenseEmbedder, Standardize, make_embedder

__all__ = ["RESIDUAL", "ConvEmbedder", "DenseEmbedder", "DisentanglingINN", "InvarianceCINN", "Standardize",
           "allocate_dims", "constant_units", "coupling_stack", "make_embedder", "subnet_fc"]
