"""`FallbackModel`: try several models in order until one answers.

By default it moves on only when a model raises `ModelHTTPError` (a 4xx or 5xx status); when every
model fails it raises `FallbackExceptionGroup` holding each model's error, so `except*` can pick
them out. Each model keeps its own options (API key, base URL, client): there are none here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from contextlib import AsyncExitStack
from contextlib import asynccontextmanager

from ..exceptions import FallbackExceptionGroup
from ..exceptions import ModelHTTPError
from ..exceptions import UserError
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..settings import ModelSettings
from ..usage import Usage
from . import KnownModelName
from . import Model
from . import ModelRequestParameters
from . import StreamedResponse
from . import infer_model

__all__ = ('FallbackModel',)

FallbackOn = tuple[type[Exception], ...] | Callable[[Exception], bool]
"""Which errors move on to the next model: exception types, or a predicate on the exception."""


class FallbackModel(Model):
    """A model that asks `default_model` first and each of `fallback_models` in turn if it fails.

    `fallback_on` decides which failures move on: a tuple of exception types (default:
    `(ModelHTTPError,)`) or a function taking the exception and returning True to move on. Any
    other exception propagates at once. A stream falls back only while it is being opened; once
    it has been handed to you, an error in it is yours.
    """

    models: list[Model]

    def __init__(
        self,
        default_model: Model | KnownModelName | str,
        *fallback_models: Model | KnownModelName | str,
        fallback_on: FallbackOn = (ModelHTTPError,),
    ) -> None:
        self.models = [infer_model(default_model), *(infer_model(m) for m in fallback_models)]
        self._fallback_on = _fallback_predicate(fallback_on)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """Ask each model in turn; return the first answer."""
        errors: list[Exception] = []
        for model in self.models:
            params = model.customize_request_parameters(model_request_parameters)
            try:
                return await model.request(messages, model_settings, params)
            except Exception as exc:
                if not self._fallback_on(exc):
                    raise
                errors.append(exc)
        raise FallbackExceptionGroup('All models from FallbackModel failed', errors)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Open a stream from each model in turn; yield the first that opens."""
        errors: list[Exception] = []
        for model in self.models:
            params = model.customize_request_parameters(model_request_parameters)
            async with AsyncExitStack() as stack:
                try:
                    stream = await stack.enter_async_context(
                        model.request_stream(messages, model_settings, params)
                    )
                except Exception as exc:
                    if not self._fallback_on(exc):
                        raise
                    errors.append(exc)
                    continue
                # Outside the try: an error raised by the caller's code while consuming the
                # stream must reach the caller, not start another model.
                yield stream
                return
        raise FallbackExceptionGroup('All models from FallbackModel failed', errors)

    @property
    def model_name(self) -> str:
        """`fallback:` and the models' names, comma-separated, in the order they are tried."""
        return 'fallback:' + ','.join(model.model_name for model in self.models)

    @property
    def system(self) -> str:
        """Always `fallback`; each answer's `model_name` says which model gave it."""
        return 'fallback'

    @property
    def base_url(self) -> str | None:
        """The first model's base URL."""
        return self.models[0].base_url

    def __repr__(self) -> str:
        return f'FallbackModel({", ".join(repr(model) for model in self.models)})'


def _fallback_predicate(fallback_on: FallbackOn) -> Callable[[Exception], bool]:
    # A bare exception class is callable too, and calling it would build a (truthy) exception:
    # treat it as the one-element tuple the caller meant.
    if isinstance(fallback_on, type) and issubclass(fallback_on, Exception):
        fallback_on = (fallback_on,)
    if isinstance(fallback_on, tuple):
        if not all(isinstance(t, type) and issubclass(t, Exception) for t in fallback_on):
            raise UserError(f'FallbackModel: fallback_on must hold exception types, got {fallback_on!r}')
        types = fallback_on

        def matches(exc: Exception) -> bool:
            return isinstance(exc, types)

        return matches
    if isinstance(fallback_on, type) or not callable(fallback_on):
        raise UserError(
            'FallbackModel: fallback_on must be a tuple of exception types or a function of the exception, '
            f'not {fallback_on!r}'
        )
    predicate: Callable[[Exception], bool] = fallback_on
    return predicate
