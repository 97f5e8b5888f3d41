from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _small_threads():
    torch.set_num_threads(2)


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """An empty runs root for this test."""
    monkeypatch.setenv("ADLIB_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"

