"""Shared test set-up: offline Hugging Face, code-eval opt-in, and the shared/data directory."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_ALLOW_CODE_EVAL", "1")
os.environ.setdefault("SELFIMP_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
os.environ.setdefault("SELFIMP_EMBEDDING_CACHE", tempfile.mkdtemp(prefix="selfimp-embeddings-"))  # not ~/.cache


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline dataset directory (env SELFIMP_DATA_DIR)."""
    path = Path(os.environ["SELFIMP_DATA_DIR"])
    if not path.is_dir():
        pytest.fail(f"offline data not found at {path} (set SELFIMP_DATA_DIR)")
    return path
