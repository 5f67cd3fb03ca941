"""Secrets: credentials in a base URL are never shown or stored; redaction finds keys.

``--base-url http://user:pass@host/v1`` put ``user:pass`` in error messages and in
``OUT.batch.json``; every place that shows or stores an endpoint now goes through
:func:`llm_grader.llm.without_userinfo`. :func:`llm_grader.llm.redact` matches a key
whatever its case and URL-encoded, besides bearer tokens and ``sk-`` keys.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, load_rubric, submit_batch
from llm_grader.errors import ModelConfigurationError
from llm_grader.llm import ModelSettings, redact, without_userinfo
from llm_grader.llm._instructor import InstructorJudge
from llm_grader.testing import FakeOpenAIServer, answer, item_of

RUBRIC = load_rubric("internet_cs_qa")
KEY = "sk-test-SECRET-4242"
PASSWORD = "hunter2-Pa55"


def with_credentials(base_url: str) -> str:
    return base_url.replace("://", f"://alice:{PASSWORD}@", 1)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pass@host:8000/v1", "http://host:8000/v1"),
    ("https://user@api.example.com/v1?x=1", "https://api.example.com/v1?x=1"),
    ("https://a:b@c@host/v1", "https://host/v1"),
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("see http://u:p@h/x and HTTPS://v:q@k/y", "see http://h/x and HTTPS://k/y"),
])
def test_without_userinfo(url: str, shown: str) -> None:
    assert without_userinfo(url) == shown
    assert redact(url) == shown


def test_settings_never_show_url_credentials() -> None:
    settings = ModelSettings(model="m", base_url=with_credentials("http://10.0.0.5:8000/v1"), api_key=SecretStr(KEY))
    assert settings.host == "10.0.0.5:8000"
    assert PASSWORD not in repr(settings) and "alice" not in repr(settings)
    assert "10.0.0.5:8000/v1" in repr(settings)
    assert InstructorJudge(settings).identity["endpoint"] == "10.0.0.5:8000/v1"
    public = ModelSettings(model="m", base_url=with_credentials("http://example.com/v1"), api_key=SecretStr(KEY))
    with pytest.raises(ModelConfigurationError) as caught:
        public.check_transport()
    assert PASSWORD not in str(caught.value) and "alice" not in str(caught.value)
    assert caught.value.host == "example.com"


def test_a_refused_connection_names_the_host_without_credentials(by_id: dict[str, Conversation]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ModelSettings(model="m", base_url=with_credentials(f"http://127.0.0.1:{port}/v1"),
                             api_key=SecretStr(KEY), transport_retries=0)
    with pytest.raises(ModelConfigurationError) as caught:
        Grader(RUBRIC, model=settings, cache=None).grade(by_id["c001"])
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    assert PASSWORD not in str(caught.value) and "alice" not in str(caught.value)


def test_the_batch_state_file_stores_no_url_credentials(tmp_path: Path, by_id: dict[str, Conversation]) -> None:
    def respond(request: dict[str, object]) -> object:
        item = RUBRIC.item(item_of(request))
        body = {"evidence": [], "rationale": "ok", "tier": item.tiers[0].id}
        if item.flags:
            body["flags"] = {f.id: False for f in item.flags}
        return answer(request, body)

    with FakeOpenAIServer(respond) as server:  # type: ignore[arg-type]
        settings = ModelSettings(model="fake-model", base_url=with_credentials(server.base_url),
                                 api_key=SecretStr(KEY), transport_retries=1)
        state = tmp_path / "cards.jsonl.batch.json"
        submit_batch(Grader(RUBRIC, model=settings, cache=None), [by_id["c006"]], state=state)
    stored = state.read_text(encoding="utf-8")
    assert PASSWORD not in stored and "alice" not in stored and KEY not in stored
    assert server.base_url.split("://", 1)[1] in stored  # the endpoint itself is kept


@pytest.mark.parametrize("echo", [
    KEY, KEY.upper(), KEY.lower(), quote("k/ey+with space&more", safe=""), "k%2fey%2bwith%20space%26more",
    quote_plus("k/ey+with space&more"),
])
def test_redact_matches_the_key_whatever_its_case_and_url_encoded(echo: str) -> None:
    secret = KEY if echo.lower() == KEY.lower() else "k/ey+with space&more"
    shown = redact(f"server said: invalid key {echo!s} (https://h/v1?api_key={echo})", secrets=[secret])
    assert echo not in shown and shown.count("***") == 2, shown
