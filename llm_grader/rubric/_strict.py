"""The base of every rubric model: unknown fields are errors and instances are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""The pattern of item, flag, category, override and rubric ids (ASCII)."""


class Strict(BaseModel):
    """A frozen model that rejects unknown fields and non-finite numbers (nan, inf).

    Attribute docstrings describe the fields.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)
