"""Where the shipped data lives: the built-in rubrics and the prompt templates."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(kind: str) -> Path:
    """The folder of shipped ``kind`` files (``rubrics`` or ``prompts``).

    In an installed wheel they are package data under ``llm_grader/_data/``; in a source
    checkout they are the repository's top-level folders.
    """
    packaged = Path(str(resources.files("llm_grader"))) / "_data" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind
