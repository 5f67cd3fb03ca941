"""Run an ``llm-grader`` command against a local scripted model: no key, no network.

    python docs/tutorial/offline_model.py [--rubric R] [--conversations F] [--answers A]
        [--error-rate E] -- llm-grader grade ... (any llm-grader command)

The tutorial's stand-in for a real model. It starts the scripted OpenAI-compatible server of
``llm_grader.testing`` on 127.0.0.1, points ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` /
``LLM_GRADER_MODEL`` at it, and runs the command after ``--``. Every request goes through
the real openai SDK and instructor, and every answer is checked as a real model's is (the
tier one of the item's, quotes found in the agent's turns). The server answers each item
with the tier, flags and evidence quotes written in ANSWERS (one JSON line per conversation
and item, the format of ``eval/calibration/truth.jsonl``); with ``--error-rate E`` it moves
a share E of the answers one tier away, as a model that disagrees now and then would.
The defaults are the tutorial's files, beside this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader.testing import FakeOpenAIServer, simulated_responder

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", default=str(HERE / "my_card.yaml"))
    parser.add_argument("--conversations", default=str(HERE / "my_chats.csv"))
    parser.add_argument("--answers", default=str(HERE / "answers.jsonl"))
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- llm-grader COMMAND ...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command[:1] == ["llm-grader"]:
        command = [sys.executable, "-m", "llm_grader", *command[1:]]
    if not command:
        parser.error("give the command to run after --, e.g. -- llm-grader grade ...")

    rubric = load_rubric(args.rubric)
    conversations = list(load_conversations(args.conversations, strict=True))
    lines = Path(args.answers).read_text(encoding="utf-8").splitlines()
    truth = {(r["conversation_id"], r["item_id"]): r for r in map(json.loads, filter(None, lines))}
    responder = simulated_responder(Grader(rubric), conversations, truth, error_rates=args.error_rate)
    with FakeOpenAIServer(responder) as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-offline-tutorial",
            "LLM_GRADER_MODEL": "scripted-model",
        }
        raise SystemExit(subprocess.call(command, env=env))


if __name__ == "__main__":
    main()
