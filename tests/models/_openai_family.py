"""Fixtures and helpers shared by the Groq and Mistral interface tests (`test_groq*.py`, `test_mistral*.py`).

Import the fixtures by name into a test module (`from tests.models._openai_family import router,
http_client`) so pytest finds them there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.messages import ModelMessage, ModelRequest, UserPromptPart

__all__ = ('http_client', 'router', 'sent_json', 'sse', 'user')


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx routes for the test; a route left uncalled is no failure."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The httpx client the providers under test send through (respx answers it)."""
    async with httpx.AsyncClient() as client:
        yield client


def user(text: str) -> list[ModelMessage]:
    """A conversation of one user prompt."""
    return [ModelRequest([UserPromptPart(text)])]


def sent_json(route: respx.Route, call: int = -1) -> dict[str, Any]:
    """The JSON body of the route's `call`-th request (the last by default)."""
    result: dict[str, Any] = orjson.loads(route.calls[call].request.content)
    return result


def sse(*chunks: dict[str, Any] | bytes, done: bool = True) -> bytes:
    """An SSE body: dicts become `data:` events, bytes are copied as they are; `[DONE]` at the end."""
    out = b''.join(c if isinstance(c, bytes) else b'data: ' + orjson.dumps(c) + b'\n\n' for c in chunks)
    return out + (b'data: [DONE]\n\n' if done else b'')
