"""Shared setup for the bounds/ tests.

Puts this folder on ``sys.path`` so the tests can import the helper module ``onnx_cases``,
and runs torch single-threaded here: the tensors are tiny, and on a busy 2-core machine
OpenMP's thread pool makes some float64 convolutions (dilated ones) 100x slower.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True, scope="module")
def _torch_single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
