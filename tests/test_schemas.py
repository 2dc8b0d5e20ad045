"""The checked-in JSON Schemas in `schemas/` are exactly what the wire models generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelkit.wire import WIRE_MODULES, render_schemas, write_schemas
from modelkit.wire.__main__ import main
from tests.conftest import REPO_ROOT

SCHEMAS = REPO_ROOT / 'schemas'
COMMAND = 'python -m modelkit.wire'


def _checked_in() -> dict[str, str]:
    return {
        f'{vendor}/{path.name}': path.read_text(encoding='utf-8')
        for vendor in WIRE_MODULES
        for path in sorted((SCHEMAS / vendor).glob('*.json'))
    }


def test_checked_in_schemas_match_the_wire_models() -> None:
    expected = render_schemas()
    actual = _checked_in()
    missing = sorted(expected.keys() - actual.keys())
    stale = sorted(actual.keys() - expected.keys())
    changed = sorted(name for name in expected.keys() & actual.keys() if expected[name] != actual[name])
    problems = [
        f'{label}: {", ".join(names)}'
        for label, names in (('missing', missing), ('stale', stale), ('out of date', changed))
        if names
    ]
    assert not problems, f'schemas/ has drifted from modelkit/wire ({"; ".join(problems)}): run `{COMMAND}`'


def test_schemas_are_stable_sorted_json_with_a_trailing_newline() -> None:
    first, second = render_schemas(), render_schemas()
    assert first == second
    assert first, 'no wire model is exported'
    for name, text in first.items():
        assert text.endswith('}\n'), name
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + '\n', name


def test_openai_exports_request_response_chunk_usage_and_error() -> None:
    names = {name for name in render_schemas() if name.startswith('openai/')}
    assert names == {
        'openai/ChatCompletionRequest.json',
        'openai/ChatCompletion.json',
        'openai/ChatCompletionChunk.json',
        'openai/CompletionUsage.json',
        'openai/ErrorResponse.json',
    }


VENDOR_EXPORTS = {
    'anthropic': {'MessagesRequest', 'Message', 'MessageStreamEvent', 'Usage', 'ErrorResponse'},
    'gemini': {'GenerateContentRequest', 'GenerateContentResponse', 'UsageMetadata', 'ErrorResponse'},
    'cohere': {'ChatRequest', 'ChatResponse', 'StreamedChatEvent', 'Usage', 'ErrorResponse'},
    'bedrock': {'ConverseRequest', 'ConverseResponse', 'ConverseStreamOutput', 'TokenUsage', 'ErrorResponse'},
    'groq': {'GroqChatCompletionRequest', 'GroqChatCompletion', 'GroqStreamPayload', 'GroqErrorResponse'},
    'mistral': {
        'MistralChatCompletionRequest',
        'MistralChatCompletion',
        'MistralChatCompletionChunk',
        'MistralErrorResponse',
    },
}


@pytest.mark.parametrize('vendor', sorted(VENDOR_EXPORTS))
def test_each_vendor_exports_its_request_response_stream_and_error(vendor: str) -> None:
    names = {
        name.split('/', 1)[1].removesuffix('.json')
        for name in render_schemas()
        if name.startswith(f'{vendor}/')
    }
    assert names == VENDOR_EXPORTS[vendor]
    assert (SCHEMAS / vendor).is_dir()


def test_the_command_writes_updates_and_prunes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 0
    written = {f'{p.parent.name}/{p.name}' for p in tmp_path.rglob('*.json')}
    assert written == set(render_schemas())
    assert 'wrote openai/ChatCompletion.json' in capsys.readouterr().out

    assert write_schemas(tmp_path) == []
    assert main([str(tmp_path)]) == 0
    assert 'up to date' in capsys.readouterr().out

    (tmp_path / 'openai' / 'Gone.json').write_text('{}\n', encoding='utf-8')
    (tmp_path / 'openai' / 'ChatCompletion.json').write_text('{}\n', encoding='utf-8')
    assert write_schemas(tmp_path) == ['deleted openai/Gone.json', 'wrote openai/ChatCompletion.json']
    assert write_schemas(tmp_path) == []
