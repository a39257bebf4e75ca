"""The front door: load models, check properties, the CLI."""

__version__ = "0.1.0"
