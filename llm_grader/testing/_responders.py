"""Responders for the fake server: scripted top-tier answers and a simulated grader."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ._fake_judge import top_tier_answer
from ._fake_server import Reply, Responder, answer

_ITEM = re.compile(r"(?:编号|\(id) ([A-Za-z_][A-Za-z0-9_]*)")


def items_of(request: dict[str, Any]) -> list[str]:
    """The rubric items a request asks about, in order (read from its last item message)."""
    asks = [str(m.get("content") or "") for m in request["messages"] if m.get("role") == "user"]
    found = list(dict.fromkeys(_ITEM.findall(asks[-1] if asks else "")))
    if not found:
        raise ValueError("no item id in the request")
    return found


def is_grouped(request: dict[str, Any]) -> bool:
    """Whether the request asks for grouped answers (its schema is the group answer model)."""
    return "ItemAnswerEntry" in json.dumps(
        [request.get("tools"), request.get("response_format"), request["messages"][:1]], ensure_ascii=False
    )


def item_of(request: dict[str, Any]) -> str:
    """The rubric item a single-item request asks about (read from its item block)."""
    return items_of(request)[-1]


def top_tier_responder(rubric: Any, *, delay: float = 0.0) -> Responder:
    """Answer every item of ``rubric`` with its top tier, no evidence, no flag raised."""

    def respond(request: dict[str, Any]) -> Reply:
        ids = items_of(request)
        if not is_grouped(request):
            obj = top_tier_answer(rubric.item(ids[0]))
        else:
            obj = {"answers": [{"item_id": i, **top_tier_answer(rubric.item(i))} for i in ids]}
        reply = answer(request, obj)
        reply.delay = delay
        return reply

    return respond


def confusion_probabilities(tiers: list[str], error_rate: float) -> dict[str, dict[str, float]]:
    """The simulated grader's known confusion: P(answer | truth), tiers in order.

    It keeps the true tier with probability ``1 - error_rate`` and otherwise moves one tier
    up or down (each half of the error; all of it at either end of the scale).
    """
    out: dict[str, dict[str, float]] = {}
    for i, tier in enumerate(tiers):
        row = dict.fromkeys(tiers, 0.0)
        row[tier] = 1.0 - error_rate
        neighbours = [tiers[j] for j in (i - 1, i + 1) if 0 <= j < len(tiers)]
        for n in neighbours:
            row[n] += error_rate / len(neighbours)
        out[tier] = row
    return out


def _agent_quote(conversation: Any) -> dict[str, Any]:
    """The start of the agent's first turn, as evidence (a quote that always verifies)."""
    turn = next((n for n, t in enumerate(conversation.turns, 1) if t.speaker == "agent"), 1)
    return {"turn": turn, "quote": conversation.turns[turn - 1].text[:8]}


def simulated_responder(
    grader: Any,
    conversations: list[Any],
    truth: dict[tuple[str, str], dict[str, Any]],
    *,
    error_rates: dict[str, float] | float = 0.2,
    seed: int = 0,
    salt: str = "",
    with_examples: dict[str, float] | float | None = None,
) -> Responder:
    """A simulated grader with a known confusion matrix, answering through the fake server.

    ``truth[(conversation_id, item_id)]`` holds ``tier``, ``flags`` and ``evidence`` (exact
    quotes). For each request the answer is drawn from :func:`confusion_probabilities` of the
    item's tiers (``not_applicable`` included when the item allows it), seeded by
    ``(seed, salt, conversation, item)`` so that the same request always gets the same answer,
    in any order. ``salt`` lets two prompt variants draw independently.

    ``with_examples``: the error rates used instead when the item block shows worked examples
    (the rubric's ``examples`` section), drawn with the salt ``examples`` added — a grader
    that examples help (lower rates), or that they only unsettle (the same rates).
    """
    rubric = grader.rubric
    first = next(i for _, i in rubric.items() if i.judge == "model")
    by_transcript = {grader.messages(first, c)[1]["content"]: c for c in conversations}
    examples_header = grader.prompts.word("item", "examples", lines="").split("\n")[0]

    def respond(request: dict[str, Any]) -> Reply:
        sent = request["messages"][1]["content"]
        conversation = next(c for t, c in by_transcript.items() if sent.startswith(t))
        item = rubric.item(item_of(request))
        expected = truth.get((conversation.id, item.id))
        order = [t.id for t in sorted(item.tiers, key=item.tier_points)]
        if item.not_applicable is not None:
            order.append("not_applicable")
        rates, drawn = error_rates, salt
        if with_examples is not None and examples_header in request["messages"][-1]["content"]:
            rates, drawn = with_examples, salt + "examples"
        rate = rates if isinstance(rates, float) else rates.get(item.id, 0.0)
        digest = hashlib.sha256(f"{seed}|{drawn}|{conversation.id}|{item.id}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        true_tier = expected["tier"] if expected else order[-1]
        tier = true_tier
        cumulative = 0.0
        for candidate, p in confusion_probabilities(order, rate)[true_tier].items():
            cumulative += p
            if draw < cumulative:
                tier = candidate
                break
        evidence = list(expected.get("evidence") or []) if expected else []
        if not evidence and tier not in (order[-1], "not_applicable"):
            evidence = [_agent_quote(conversation)]
        obj: dict[str, Any] = {"evidence": evidence, "rationale": f"模拟评分:{tier}", "tier": tier}
        if item.flags:
            flags = (expected or {}).get("flags") or {}
            obj["flags"] = {f.id: bool(flags.get(f.id, False)) for f in item.flags}
            if any(obj["flags"].values()) and not evidence:
                obj["evidence"] = [_agent_quote(conversation)]
        return answer(request, obj)

    return respond
