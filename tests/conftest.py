"""Fixtures shared by all tests (helpers live in known_nets.py)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from known_nets import abs_network


@pytest.fixture
def abs_model_path(tmp_path: Path) -> Path:
    path = tmp_path / "abs.onnx"
    onnx.save(abs_network(), path)
    return path
