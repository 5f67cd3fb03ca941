"""Vendor ASR results (Alibaba, Tencent, iFlytek, Amazon Transcribe/Connect) as conversations.

:func:`read_asr` reads a vendor's result file; :func:`detect_vendor` tells which vendor wrote it.
The vendors' formats live in ``_vendors``, their shared reading in ``_base``, Amazon's in ``_transcribe``.
"""

from __future__ import annotations

from ._read import (
    VENDORS,
    AsrVendor,
    TimeUnit,
    detect_vendor,
    implausible_seconds,
    parse_channel_map,
    read_asr,
    to_seconds,
)

__all__ = [
    "VENDORS",
    "AsrVendor",
    "TimeUnit",
    "detect_vendor",
    "implausible_seconds",
    "parse_channel_map",
    "read_asr",
    "to_seconds",
]
