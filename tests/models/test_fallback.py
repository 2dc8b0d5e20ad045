"""FallbackModel: moving on after a failure, what counts as one, and the all-failed group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit import Agent
from modelkit.exceptions import (
    FallbackExceptionGroup,
    ModelConnectionError,
    ModelHTTPError,
    UserError,
)
from modelkit.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from modelkit.models import Model, ModelRequestParameters
from modelkit.models.fallback import FallbackModel
from modelkit.models.function import AgentInfo, FunctionModel
from modelkit.models.test import TestModel
from modelkit.settings import ModelSettings
from modelkit.usage import Usage

PARAMS = ModelRequestParameters()
MESSAGES: list[ModelMessage] = [ModelRequest([UserPromptPart('What is the capital of France?')])]


class Recorder:
    """Models that answer, or fail with a given error, and record that they were asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def answering(self, text: str) -> FunctionModel:
        async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            self.calls.append(text)
            return ModelResponse([TextPart(text)])

        async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
            self.calls.append(text)
            yield text

        answer.__name__ = stream.__name__ = text
        return FunctionModel(answer, stream_function=stream)

    def failing(self, name: str, error: BaseException) -> FunctionModel:
        async def fail(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            self.calls.append(name)
            raise error

        async def fail_stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
            self.calls.append(name)
            raise error
            yield

        fail.__name__ = fail_stream.__name__ = name
        return FunctionModel(fail, stream_function=fail_stream)


def http_error(status: int, model: str) -> ModelHTTPError:
    return ModelHTTPError(
        status, model, {'error': {'message': 'Incorrect API key provided'}}, vendor='openai'
    )


# -- request ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_http_error_moves_on_and_the_answer_names_the_model_that_gave_it() -> None:
    rec = Recorder()
    model = FallbackModel(rec.failing('openai', http_error(401, 'gpt-4o')), rec.answering('claude'))
    response, usage = await model.request(MESSAGES, None, PARAMS)
    assert response.parts == [TextPart('claude')]
    assert response.model_name == 'function:claude:claude'
    assert usage.requests == 1
    assert rec.calls == ['openai', 'claude']


@pytest.mark.anyio
async def test_the_first_model_that_answers_ends_the_search() -> None:
    rec = Recorder()
    model = FallbackModel(rec.answering('first'), rec.answering('second'))
    response, _ = await model.request(MESSAGES, None, PARAMS)
    assert response.parts == [TextPart('first')]
    assert rec.calls == ['first']


@pytest.mark.anyio
async def test_an_error_not_in_fallback_on_propagates_at_once() -> None:
    rec = Recorder()
    model = FallbackModel(rec.failing('a', ValueError('a bug')), rec.answering('b'))
    with pytest.raises(ValueError, match='a bug'):
        await model.request(MESSAGES, None, PARAMS)
    assert rec.calls == ['a']

    # ModelConnectionError is not a ModelHTTPError: the default moves on only for HTTP statuses.
    rec = Recorder()
    model = FallbackModel(
        rec.failing('a', ModelConnectionError('gpt-4o', 'connect failed')), rec.answering('b')
    )
    with pytest.raises(ModelConnectionError):
        await model.request(MESSAGES, None, PARAMS)
    assert rec.calls == ['a']


@pytest.mark.anyio
async def test_base_exceptions_are_never_swallowed() -> None:
    class Stop(BaseException):
        pass

    rec = Recorder()
    model = FallbackModel(rec.failing('a', Stop()), rec.answering('b'), fallback_on=lambda exc: True)
    with pytest.raises(Stop):
        await model.request(MESSAGES, None, PARAMS)
    assert rec.calls == ['a']


@pytest.mark.anyio
async def test_fallback_on_a_predicate() -> None:
    def server_side(exc: Exception) -> bool:
        return isinstance(exc, ModelHTTPError) and exc.status_code >= 500

    rec = Recorder()
    model = FallbackModel(rec.failing('a', http_error(503, 'a')), rec.answering('b'), fallback_on=server_side)
    response, _ = await model.request(MESSAGES, None, PARAMS)
    assert response.parts == [TextPart('b')]

    rec = Recorder()
    model = FallbackModel(rec.failing('a', http_error(401, 'a')), rec.answering('b'), fallback_on=server_side)
    with pytest.raises(ModelHTTPError) as info:
        await model.request(MESSAGES, None, PARAMS)
    assert info.value.status_code == 401
    assert rec.calls == ['a']


@pytest.mark.anyio
async def test_fallback_on_exception_types() -> None:
    rec = Recorder()
    model = FallbackModel(
        rec.failing('a', ModelConnectionError('a', 'reset')),
        rec.failing('b', http_error(500, 'b')),
        rec.answering('c'),
        fallback_on=(ModelConnectionError, ModelHTTPError),
    )
    response, _ = await model.request(MESSAGES, None, PARAMS)
    assert response.parts == [TextPart('c')]
    assert rec.calls == ['a', 'b', 'c']

    # A bare class means the one-element tuple (calling it as a predicate would always be truthy).
    rec = Recorder()
    model = FallbackModel(rec.failing('a', ValueError('x')), rec.answering('b'), fallback_on=ModelHTTPError)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='x'):
        await model.request(MESSAGES, None, PARAMS)


@pytest.mark.anyio
async def test_when_every_model_fails_the_group_holds_each_error_in_order() -> None:
    rec = Recorder()
    first, second = http_error(401, 'gpt-4o'), http_error(401, 'claude-3-5-sonnet-latest')
    model = FallbackModel(rec.failing('openai', first), rec.failing('anthropic', second))
    with pytest.raises(FallbackExceptionGroup) as info:
        await model.request(MESSAGES, None, PARAMS)
    assert info.value.message == 'All models from FallbackModel failed'
    assert info.value.exceptions == (first, second)

    # The page's way: `except*` picks the HTTP errors out of the group.
    caught: list[BaseException] = []
    try:
        await model.request(MESSAGES, None, PARAMS)
    except* ModelHTTPError as group:
        caught.extend(group.exceptions)
    assert caught == [first, second]
    assert 'status_code: 401, model_name: claude-3-5-sonnet-latest' in str(caught[1])


def test_names_model_strings_and_bad_arguments() -> None:
    model = FallbackModel('test', TestModel())
    assert [type(m) for m in model.models] == [TestModel, TestModel]
    assert (model.model_name, model.system, model.base_url) == ('fallback:test,test', 'fallback', None)
    assert repr(model).startswith('FallbackModel(TestModel(')
    with pytest.raises(UserError, match='Unknown model'):
        FallbackModel('test', 'no-such-vendor:model')
    with pytest.raises(UserError, match='must hold exception types'):
        FallbackModel('test', fallback_on=(ModelHTTPError, 'oops'))  # type: ignore[arg-type]
    with pytest.raises(UserError, match='must be a tuple of exception types or a function'):
        FallbackModel('test', fallback_on=42)  # type: ignore[arg-type]


class _Customizing(Model):
    """A model that, like a vendor without native JSON output, rewrites the request parameters."""

    def __init__(self) -> None:
        self.seen: list[ModelRequestParameters] = []

    def customize_request_parameters(
        self, model_request_parameters: ModelRequestParameters
    ) -> ModelRequestParameters:
        return ModelRequestParameters(allow_text_result=False)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        self.seen.append(model_request_parameters)
        raise ModelHTTPError(500, 'custom')

    @property
    def model_name(self) -> str:
        return 'custom'

    @property
    def system(self) -> str:
        return 'custom'


@pytest.mark.anyio
async def test_each_model_customizes_the_request_parameters_for_itself() -> None:
    custom = _Customizing()
    test_model = TestModel()
    model = FallbackModel(custom, test_model)
    response, _ = await model.request(MESSAGES, None, PARAMS)
    assert custom.seen == [ModelRequestParameters(allow_text_result=False)]
    assert test_model.last_model_request_parameters is PARAMS
    assert response.model_name == 'test'


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stream_that_fails_to_open_moves_on() -> None:
    rec = Recorder()
    model = FallbackModel(rec.failing('openai', http_error(429, 'gpt-4o')), rec.answering('claude'))
    async with model.request_stream(MESSAGES, None, PARAMS) as stream:
        events = [event async for event in stream]
    assert len(events) == 1
    assert stream.get().parts == [TextPart('claude')]
    assert stream.get().model_name == 'function:claude:claude'
    assert rec.calls == ['openai', 'claude']


@pytest.mark.anyio
async def test_no_fallback_once_the_stream_is_yours() -> None:
    rec = Recorder()

    async def breaks_midway(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        rec.calls.append('midway')
        yield 'Par'
        raise http_error(500, 'gpt-4o')

    model = FallbackModel(FunctionModel(stream_function=breaks_midway), rec.answering('claude'))
    with pytest.raises(ModelHTTPError):
        async with model.request_stream(MESSAGES, None, PARAMS) as stream:
            _ = [event async for event in stream]
    assert rec.calls == ['midway']

    # An error raised by the caller's own code inside the block is not a model failure either.
    rec = Recorder()
    model = FallbackModel(rec.answering('first'), rec.answering('second'))
    with pytest.raises(ModelHTTPError):
        async with model.request_stream(MESSAGES, None, PARAMS):
            raise http_error(502, 'caller')
    assert rec.calls == ['first']


@pytest.mark.anyio
async def test_every_stream_failing_to_open_raises_the_group() -> None:
    rec = Recorder()
    model = FallbackModel(rec.failing('a', http_error(500, 'a')), rec.failing('b', http_error(503, 'b')))
    with pytest.raises(FallbackExceptionGroup) as info:
        async with model.request_stream(MESSAGES, None, PARAMS):
            raise AssertionError('not reached')
    assert [e.status_code for e in info.value.exceptions] == [500, 503]  # type: ignore[attr-defined]

    rec = Recorder()
    model = FallbackModel(rec.failing('a', KeyError('k')), rec.answering('b'))
    with pytest.raises(KeyError):
        async with model.request_stream(MESSAGES, None, PARAMS):
            raise AssertionError('not reached')
    assert rec.calls == ['a']


# -- through the Agent ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_agent_falls_back_and_the_history_says_which_model_answered() -> None:
    rec = Recorder()
    agent = Agent(FallbackModel(rec.failing('openai', http_error(401, 'gpt-4o')), 'test'))
    result = await agent.run('What is the capital of France?')
    assert result.data == 'success (no tool calls)'
    response = result.all_messages()[-1]
    assert isinstance(response, ModelResponse)
    assert response.model_name == 'test'
    assert result.usage().requests == 1


@pytest.mark.anyio
async def test_agent_run_where_every_model_fails_is_caught_with_except_star() -> None:
    rec = Recorder()
    agent = Agent(TestModel())
    failing = FallbackModel(rec.failing('a', http_error(401, 'a')), rec.failing('b', http_error(401, 'b')))
    statuses: list[int] = []
    with agent.override(model=failing):
        try:
            await agent.run('What is the capital of France?')
        except* ModelHTTPError as group:
            statuses = [exc.status_code for exc in group.exceptions]  # type: ignore[attr-defined]
    assert statuses == [401, 401]


@pytest.mark.anyio
async def test_agent_run_stream_falls_back_at_stream_start() -> None:
    rec = Recorder()
    agent = Agent(
        FallbackModel(rec.failing('a', http_error(503, 'a')), TestModel(custom_result_text='Paris'))
    )
    async with agent.run_stream('Capital?') as result:
        text = [chunk async for chunk in result.stream_text()]
    assert text == ['Paris']
    assert result.all_messages()[-1].model_name == 'test'  # type: ignore[union-attr]
    assert rec.calls == ['a']


def test_run_sync_with_a_fallback_model() -> None:
    rec = Recorder()
    agent = Agent(FallbackModel(rec.failing('a', http_error(500, 'a')), rec.answering('Paris')))
    result = agent.run_sync('What is the capital of France?')
    assert result.data == 'Paris'
    assert rec.calls == ['a', 'Paris']


# -- over the wire: OpenAI-protocol models behind respx ---------------------------------------

OPENAI_URL = 'https://api.openai.com/v1/chat/completions'
BACKUP_URL = 'https://backup.example.com/v1/chat/completions'


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        'id': 'chatcmpl-1',
        'object': 'chat.completion',
        'created': 1_700_000_000,
        'model': model,
        'choices': [
            {'index': 0, 'message': {'role': 'assistant', 'content': content}, 'finish_reason': 'stop'}
        ],
        'usage': {'prompt_tokens': 12, 'completion_tokens': 1, 'total_tokens': 13},
    }


def _sse(model: str, *texts: str) -> bytes:
    chunks = [
        {
            'id': 'chatcmpl-1',
            'object': 'chat.completion.chunk',
            'created': 1_700_000_000,
            'model': model,
            'choices': [{'index': 0, 'delta': {'content': text}, 'finish_reason': None}],
        }
        for text in texts
    ]
    body = b''.join(b'data: ' + orjson.dumps(chunk) + b'\n\n' for chunk in chunks)
    return body + b'data: [DONE]\n\n'


_INVALID_KEY = {'error': {'message': 'Incorrect API key provided', 'type': 'invalid_request_error'}}


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _wire_models(http_client: httpx.AsyncClient) -> FallbackModel:
    from modelkit.models.openai import OpenAIModel

    primary = OpenAIModel('gpt-4o', api_key='not-valid', http_client=http_client)
    backup = OpenAIModel(
        'backup-model', api_key='sk-backup', base_url='https://backup.example.com/v1', http_client=http_client
    )
    return FallbackModel(primary, backup)


@pytest.mark.anyio
async def test_a_real_401_from_the_transport_falls_back_to_the_next_vendor(
    http_client: httpx.AsyncClient,
) -> None:
    with respx.mock(assert_all_called=True) as router:
        primary = router.post(OPENAI_URL).mock(return_value=httpx.Response(401, json=_INVALID_KEY))
        backup = router.post(BACKUP_URL).mock(
            return_value=httpx.Response(200, json=_completion('backup-model-2025', 'Paris'))
        )
        result = await Agent(_wire_models(http_client)).run('What is the capital of France?')
    assert result.data == 'Paris'
    assert result.all_messages()[-1].model_name == 'backup-model-2025'  # type: ignore[union-attr]
    assert primary.call_count == 1  # a 401 is not retried by the transport
    assert backup.calls.last.request.headers['authorization'] == 'Bearer sk-backup'


@pytest.mark.anyio
async def test_a_real_401_at_stream_start_falls_back_and_the_backup_streams(
    http_client: httpx.AsyncClient,
) -> None:
    with respx.mock(assert_all_called=True) as router:
        router.post(OPENAI_URL).mock(return_value=httpx.Response(401, json=_INVALID_KEY))
        router.post(BACKUP_URL).mock(
            return_value=httpx.Response(
                200,
                content=_sse('backup-model-2025', 'Pa', 'ris'),
                headers={'content-type': 'text/event-stream'},
            )
        )
        async with Agent(_wire_models(http_client)).run_stream('Capital?') as result:
            chunks = [chunk async for chunk in result.stream_text(delta=True)]
    assert ''.join(chunks) == 'Paris'
    assert result.all_messages()[-1].model_name == 'backup-model-2025'  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_both_vendors_refusing_gives_the_group_with_each_status(http_client: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_called=True) as router:
        router.post(OPENAI_URL).mock(return_value=httpx.Response(401, json=_INVALID_KEY))
        router.post(BACKUP_URL).mock(
            return_value=httpx.Response(403, json={'error': {'message': 'forbidden'}})
        )
        errors: list[ModelHTTPError] = []
        try:
            await Agent(_wire_models(http_client)).run('What is the capital of France?')
        except* ModelHTTPError as group:
            errors = [exc for exc in group.exceptions if isinstance(exc, ModelHTTPError)]
    assert [(e.status_code, e.model_name) for e in errors] == [(401, 'gpt-4o'), (403, 'backup-model')]
    assert all('not-valid' not in str(e) and 'sk-backup' not in repr(e.headers) for e in errors)
