"""User errors: mistakes in what a person typed or gave (config values, data, checkpoints, layer names, API
arguments). train.py, evaluate.py, `python -m iin.report` and the explorer print them as one line and exit
with code 2; every other exception is a bug and keeps its traceback.

Each class also derives from the builtin exception a caller would expect (ValueError, FileNotFoundError, ...),
so `except ValueError` keeps working.
"""
from __future__ import annotations


class UserError(Exception):
    """Base class: the message says what was wrong and what to do."""

    def __str__(self) -> str:  # KeyError subclasses would quote the whole message
        return str(self.args[0]) if self.args else ""


class ConfigError(UserError, ValueError):
    """A config value is out of range, of the wrong type or inconsistent with another."""


class DataError(UserError, ValueError):
    """The data a config names is missing, unreadable or does not fit the config."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data a config names is not on disk; the message says how to get it."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, corrupt, foreign, or does not fit the network it is loaded into."""


class LayerError(UserError, KeyError):
    """A layer name the model does not have, or a layer whose output cannot be used as asked."""


class APIError(UserError, ValueError):
    """A Python API called with arguments it cannot take (shape, dtype, range, sizes)."""


class RunLockedError(UserError, RuntimeError):
    """Another process holds the run directory."""
