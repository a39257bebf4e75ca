"""Fixtures shared by all tests (helpers live in known_nets.py)."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
import torch
from hypothesis import settings
from known_nets import abs_network

# CI draws the property tests' examples from a fixed seed (each test's own), so a clean clone
# passes or fails the same way every time; elsewhere they are random, to keep finding new cases.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# As the CLI does (verify/cli.py --threads): small batches, and extra threads spin on a busy machine.
torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip unless CUDA is available."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="CUDA not available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def abs_model_path(tmp_path: Path) -> Path:
    path = tmp_path / "abs.onnx"
    onnx.save(abs_network(), path)
    return path
