"""The interactive explorer: `iin-explore <run_dir>` serves a local web app over `Interpreter`."""
from .session import MODES, Explorer

__all__ = ["MODES", "Explorer"]
