"""The names of the back-substitution backends (``bounds.kernels``), importable without
torch: the command line checks ``--kernels`` before it loads the analysis."""

BACKENDS = ("torch", "numba", "numpy")
CHOICES = ("auto", *BACKENDS)
"""``auto``: numba on CPU once a search has run long enough to repay loading it (torch's
until then), torch on any other device (see ``bounds.kernels.make_kernels``)."""
