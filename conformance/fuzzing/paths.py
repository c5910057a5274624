"""Where the fuzz targets, corpora, dictionaries, regressions and artifacts live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FUZZ_DIR = REPO_ROOT / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"
DICTIONARY_DIR = FUZZ_DIR / "dictionaries"
REGRESSION_DIR = FUZZ_DIR / "regressions"
ARTIFACT_DIR = FUZZ_DIR / "artifacts"


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it is below it (shorter repro lines)."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
