"""Deciding a property: falsification and branch and bound over bounds from ``bounds``."""
