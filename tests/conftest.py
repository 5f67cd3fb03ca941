from __future__ import annotations

from pathlib import Path

import pytest

from llm_grader import Rubric, load_conversations, load_rubric
from llm_grader.conversation import Conversations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def examples() -> Conversations:
    loaded = load_conversations(EXAMPLES)
    assert not loaded.errors
    return loaded


@pytest.fixture(scope="session")
def by_id(examples: Conversations) -> dict[str, object]:
    return {c.id: c for c in examples}


@pytest.fixture(scope="session")
def flagship() -> Rubric:
    return load_rubric("internet_cs_qa")
