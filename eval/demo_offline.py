"""Try model grading with no key and no network: a local fake model answers every item.

    python eval/demo_offline.py [CLI options for `llm-grader grade`...]

Starts the scripted OpenAI-compatible server from ``llm_grader.testing`` on 127.0.0.1 (it
answers every item with its top tier, no flag raised) and runs
``llm-grader grade examples/conversations.jsonl -r internet_cs_qa`` against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llm_grader import load_rubric
from llm_grader.testing import FakeOpenAIServer, top_tier_responder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ["-o", "demo_scorecards.jsonl", "--overwrite"]


def main() -> None:
    with FakeOpenAIServer(top_tier_responder(load_rubric("internet_cs_qa"))) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-offline-demo", "LLM_GRADER_MODEL": "fake-model"}
        command = [
            sys.executable,
            "-m",
            "llm_grader",
            "grade",
            str(ROOT / "examples" / "conversations.jsonl"),
            "-r",
            "internet_cs_qa",
            "--base-url",
            server.base_url,
            "--no-cache",
            # A demo run replaces its own output unless told where to write.
            *([] if {"-o", "--output"} & set(sys.argv[1:]) else DEFAULT_OUTPUT),
            *sys.argv[1:],
        ]
        raise SystemExit(subprocess.call(command, env=env))


if __name__ == "__main__":
    main()
