"""Hydra config groups of iin (a package, so installs find them)."""
