"""The Interpreter moved to iin.interpreter; this name stays for existing imports."""
from .interpreter import Edit, Interpreter, forward_from

__all__ = ["Edit", "Interpreter", "forward_from"]
