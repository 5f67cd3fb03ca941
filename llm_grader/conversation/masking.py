"""Masking of personal numbers (phone, ID-card, bank-card) in a conversation's texts."""

from __future__ import annotations

import re

from .model import Conversation

__all__ = ["mask_personal_data"]

_PERSONAL = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15}|\d{16,19}|1[3-9]\d{9})(?![0-9A-Za-z])")


def _mask_number(match: re.Match[str]) -> str:
    digits = match.group(0)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_personal_data(conversation: Conversation) -> Conversation:
    """Mask phone, ID-card and bank-card numbers, keeping the last four digits.

    Masking keeps every text's length, so character offsets found in the masked text are
    valid in the original too.
    """
    turns = [
        turn.model_copy(update={"text": _PERSONAL.sub(_mask_number, turn.text)})
        for turn in conversation.turns
    ]
    notes = _PERSONAL.sub(_mask_number, conversation.notes) if conversation.notes else conversation.notes
    return conversation.model_copy(update={"turns": turns, "notes": notes})
