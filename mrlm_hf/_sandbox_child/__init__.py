"""Holds ``bootstrap.py``, the script the sandbox's child interpreter runs (not imported; see its docstring)."""
