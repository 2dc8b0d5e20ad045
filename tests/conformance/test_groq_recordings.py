"""Replays of every recorded Groq exchange through `GroqModel` and `GroqProvider`, plain and re-chunked.

See `_openai_family.py` for how; this file is the data: the recordings, and what only Groq shows
(the `failed_generation` of a 400 `tool_use_failed` on the typed error).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkit.models.groq import GroqModel, GroqToolUseFailedError
from modelkit.providers.groq import GroqProvider
from tests.conformance._openai_family import Dialect, check_interaction
from tests.helpers.cassettes import interaction_params, load_interactions, recording_paths

pytestmark = pytest.mark.anyio

RECORDINGS = [
    'groq/pydantic-ai/test_groq_model_instructions.yaml',
    'groq/pydantic-ai/test_tool_use_failed_error.yaml',
    'groq/pydantic-ai/test_tool_use_failed_error_streaming_with_text.yaml',
    'groq/pydantic-ai/test_tool_choice_matrix[auto-groq].yaml',
    'groq/vercel-ai/groq-tool-call.chunks.txt',
]
"""Every Groq recording in the visible fixture set (a test below checks none is missed)."""

GROQ = Dialect(
    GroqModel,
    GroqProvider,
    default_request={
        'model': 'llama-3.3-70b-versatile',
        'messages': [{'role': 'user', 'content': 'Weather?'}],
    },
)


@pytest.mark.parametrize(('name', 'index'), interaction_params(RECORDINGS))
async def test_recorded_interaction(wire_fixtures: Path, name: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, name)[index]
    error = await check_interaction(GROQ, interaction)
    if interaction.response.status >= 400:
        recorded = interaction.response.json()['error']
        assert recorded['code'] == 'tool_use_failed'
        assert isinstance(error, GroqToolUseFailedError)
        assert error.failed_generation == recorded['failed_generation']
        assert recorded['message'][:80] in str(error)


def test_every_groq_recording_is_replayed(wire_fixtures: Path) -> None:
    assert set(recording_paths(wire_fixtures, 'groq')) == set(RECORDINGS)
