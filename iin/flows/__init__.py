"""Everything invertible, with FrEIA's (out, log_det) contract."""
from .blocks import coupling_stack, subnet_fc
from .cinn import InvarianceCINN
from .dinn import RESIDUAL, DisentanglingINN, allocate_dims
from .embedders import ConvEmbedder, DenseEmbedder, Standardize, make_embedder

__all__ = ["RESIDUAL", "ConvEmbedder", "DenseEmbedder", "DisentanglingINN", "InvarianceCINN", "Standardize",
           "allocate_dims", "coupling_stack", "make_embedder", "subnet_fc"]
