"""`modelkit chat`, and the command line's wording for model strings (shared with the bench).

Kept apart from `modelkit.cli` so that module stays the parser and the dispatch; like it, this
module imports the library only inside the functions that need it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .cli import PROG, _provider_env, _UsageError

if TYPE_CHECKING:
    from .messages import ModelMessage, ModelRequest, ModelResponse
    from .models import Model

__all__ = (
    'NOT_BUILT_MARK',
    'build_cli_model',
    'check_model_string',
    'cmd_chat',
    'is_built',
    'marked_prefixes',
)


def cmd_chat(args: argparse.Namespace) -> int:
    """`modelkit chat`: one streamed answer, or a conversation when stdin is a terminal."""
    prompt = args.prompt
    interactive = prompt is None and sys.stdin.isatty()
    if not interactive and (prompt is None or prompt == '-'):
        if sys.stdin.isatty():
            raise _UsageError('give a prompt, or pipe one on stdin')
        prompt = sys.stdin.read()
    if not interactive and not prompt.strip():
        raise _UsageError('the prompt is empty')
    import anyio

    model = _chat_model(args)
    if interactive:
        return _conversation(model, args)
    out = _AnswerWriter()
    try:
        anyio.run(_chat, model, _first_request(args, prompt), args, out.write)
    except (Exception, KeyboardInterrupt):
        out.end_line()
        raise
    return 0


class _AnswerWriter:
    """Writes an answer as it streams, remembering whether the terminal is left mid-line."""

    def __init__(self) -> None:
        self.mid_line = False

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        self.mid_line = not text.endswith('\n')

    def end_line(self) -> None:
        # End a half-printed answer, so the error line or the shell prompt starts clean.
        if self.mid_line:
            self.write('\n')


def _chat_model(args: argparse.Namespace) -> Model:
    """The model `-m` names, with the command line's own wording for its mistakes."""
    return build_cli_model(args.model, base_url=args.base_url, api_key_env=args.api_key_env)


def build_cli_model(
    model_str: str, *, base_url: str | None, api_key_env: str | None, max_retries: int | None = None
) -> Model:
    """The `Model` for `-m MODEL` (`test` is `TestModel`); its mistakes as one-line usage errors."""
    from .bench.target import build_model
    from .exceptions import UserError

    if model_str == 'test':
        if base_url is not None or api_key_env is not None:
            raise _UsageError(
                'the test model runs in this process: --base-url and --api-key-env do not apply'
            )
        from .models.test import TestModel

        return TestModel()
    prefix = check_model_string(model_str)
    try:
        return build_model(model_str, base_url=base_url, api_key_env=api_key_env, max_retries=max_retries)
    except UserError as exc:
        # The providers' wording is for Python code (`api_key=...`); here the fix is a variable.
        if api_key_env is None and 'api_key=' in str(exc):
            key_env = _provider_env(_provider_of(prefix))[0] if prefix else None
            var = key_env or 'the API key variable ("modelkit models" lists them)'
            raise _UsageError(
                f'no API key for {model_str}: set {var} (export {key_env or "VAR"}=...), or name the '
                'variable that holds it with --api-key-env VAR'
            ) from None
        raise


def _conversation(model: Model, args: argparse.Namespace) -> int:
    """A conversation on the terminal: history kept, answers streamed, Ctrl-C cancels one answer."""
    import anyio

    from .messages import ModelRequest, UserPromptPart

    with suppress(ImportError):
        import readline  # noqa: F401  (line editing and arrow-key history for input())
    sys.stderr.write(f'{PROG} chat with {args.model}: Ctrl-D or /exit leaves, Ctrl-C stops an answer.\n')
    history: list[ModelMessage] = []
    while True:
        try:
            line = input('> ')
        except EOFError:
            sys.stdout.write('\n')
            return 0
        except KeyboardInterrupt:
            # As in Python's own prompt: drop the half-typed line, ask again.
            sys.stdout.write('\n')
            continue
        text = line.strip()
        if text in ('/exit', '/quit'):
            return 0
        if not text:
            continue
        request = _first_request(args, text) if not history else ModelRequest([UserPromptPart(text)])
        out = _AnswerWriter()
        try:
            response = anyio.run(_chat, model, request, args, out.write, history)
        except KeyboardInterrupt:
            # The answer is dropped with its prompt, so the next turn follows a complete exchange.
            out.end_line()
            sys.stderr.write('(answer cancelled)\n')
            continue
        except Exception:
            out.end_line()
            raise
        history += [request, response]


def _first_request(args: argparse.Namespace, prompt: str) -> ModelRequest:
    from .messages import ModelRequest, ModelRequestPart, SystemPromptPart, UserPromptPart

    parts: list[ModelRequestPart] = []
    if args.system:
        parts.append(SystemPromptPart(args.system))
    parts.append(UserPromptPart(prompt))
    return ModelRequest(parts)


async def _chat(
    model: Model,
    request: ModelRequest,
    args: argparse.Namespace,
    write: Callable[[str], None],
    history: Sequence[ModelMessage] = (),
) -> ModelResponse:
    from ._transport import aclose_shared_http_client
    from .messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
    from .models import ModelRequestParameters
    from .settings import ModelSettings

    settings: ModelSettings = {}
    if args.max_tokens is not None:
        settings['max_tokens'] = args.max_tokens
    if args.temperature is not None:
        settings['temperature'] = args.temperature
    try:
        async with model.request_stream(
            [*history, request], settings or None, ModelRequestParameters()
        ) as stream:
            async for event in stream:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    text = event.part.content
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    text = event.delta.content_delta
                else:
                    continue
                if text:
                    write(text)
            write('\n')
            if args.usage:
                sys.stderr.write(usage_line(stream.usage(), stream.timing) + '\n')
            return stream.get()
    finally:
        await aclose_shared_http_client()


def usage_line(usage: Any, timing: Any) -> str:
    fields = [
        f'{name.replace("_", " ")} {value:,}'
        for name in ('request_tokens', 'response_tokens', 'total_tokens')
        if (value := getattr(usage, name, None)) is not None
    ]
    for name, value in sorted((usage.details or {}).items()):
        fields.append(f'{name.replace("_", " ")} {value:,}')
    ttft = timing.time_to_first_token
    if ttft is not None:
        fields.append(f'first token after {ttft * 1000:,.0f} ms')
    return 'usage: ' + (', '.join(fields) if fields else 'not reported')


# --------------------------------------------------------------------------------------------
# Model strings: the command line's wording for them
# --------------------------------------------------------------------------------------------

NOT_BUILT_MARK = '*'
"""Marks a prefix whose interface module is not in this installation yet, in lists and errors."""


def _prefix_table() -> dict[str, tuple[str, str, str]]:
    # prefix -> (interface module, class, provider name): the resolver's own table, read (not
    # copied) so the command line can never disagree with `infer_model`.
    from .models import _MODEL_PREFIXES

    return _MODEL_PREFIXES


def is_built(prefix: str) -> bool:
    """Whether the interface module behind `prefix` is installed (found without importing it)."""
    from importlib.util import find_spec

    entry = _prefix_table().get(prefix)
    return entry is not None and find_spec(f'modelkit.models.{entry[0]}') is not None


def _provider_of(prefix: str) -> str:
    return _prefix_table()[prefix][2]


def marked_prefixes() -> tuple[str, bool]:
    """The prefixes, those not built yet marked; and whether any is marked."""
    names = []
    pending = False
    for prefix in _prefix_table():
        built = is_built(prefix)
        pending = pending or not built
        names.append(prefix if built else prefix + NOT_BUILT_MARK)
    return ', '.join(names), pending


def check_model_string(model: str) -> str | None:
    """The prefix of `model`, or a `_UsageError` that says what is wrong with it.

    None for a bare name (`gpt-4o`), which the resolver maps to its vendor itself.
    """
    import difflib

    from .models import _PREFIX_ALIASES

    prefix, sep, name = model.partition(':')
    if not sep:
        return None
    prefix = _PREFIX_ALIASES.get(prefix, prefix)
    table = _prefix_table()
    if prefix in table:
        if not name.strip():
            raise _UsageError(f'{model!r} is missing the model name after "{prefix}:" (e.g. openai:gpt-4o)')
        if not is_built(prefix):
            raise _UsageError(
                f'the {prefix!r} interface is not built in this version of modelkit yet '
                f'(built: {", ".join(p for p in table if is_built(p))}, or "test")'
            )
        return prefix
    listing, pending = marked_prefixes()
    close = difflib.get_close_matches(prefix, [*table, *_PREFIX_ALIASES], n=1)
    hint = f'did you mean {_PREFIX_ALIASES.get(close[0], close[0])!r}? ' if close else ''
    legend = f' ({NOT_BUILT_MARK} not built yet)' if pending else ''
    raise _UsageError(
        f'unknown model prefix {prefix!r} in {model!r}: {hint}prefixes: {listing}, test{legend}'
    )
