"""URLs as shown and stored: never with the ``user:password@`` a base URL may carry."""

from __future__ import annotations

import re

USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
"""``user:password@`` after a URL's scheme."""


def without_userinfo(url: str) -> str:
    """``url`` without the ``user:password@`` before its host: the form a URL is shown or stored in.

    ``http://user:pass@host:8000/v1`` gives ``http://host:8000/v1``; any other text is unchanged.
    Every place that shows or stores an endpoint (messages, the judge's identity, the batch
    state file, ``repr``) goes through it.
    """
    return USERINFO.sub(r"\1", url)
