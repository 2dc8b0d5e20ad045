"""`modelkit chat` and `modelkit bench` with an `anthropic:` model against a running emulator."""

from __future__ import annotations

from tests.cli.test_cli import EMULATOR_TOKENS, cli_env, emulate, run_cli

__all__ = ('emulate',)  # the module-scoped `modelkit emulate` fixture, shared with test_cli.py


def _root(openai_base_url: str) -> str:
    # The fixture yields the OpenAI base URL; Anthropic's is the emulator's root.
    return openai_base_url.removesuffix('/v1')


def test_chat_streams_an_anthropic_answer(emulate: str) -> None:
    result = run_cli(
        'chat', '-m', 'anthropic:claude-3-5-sonnet-latest', '--base-url', _root(emulate),
        '--system', 'Be brief.', '--usage', 'Tell me about rivers',
        env=cli_env(ANTHROPIC_API_KEY='emulator-key'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == EMULATOR_TOKENS
    assert f'response tokens {EMULATOR_TOKENS}' in result.stderr


def test_chat_with_a_bad_anthropic_key_prints_the_401(emulate: str) -> None:
    result = run_cli(
        'chat', '-m', 'anthropic:claude-3-5-sonnet-latest', '--base-url', _root(emulate), 'Hi',
        env=cli_env(ANTHROPIC_API_KEY='wrong'),
    )  # fmt: skip
    assert result.returncode == 1
    assert 'anthropic status_code: 401' in result.stderr
    assert 'authentication_error' in result.stderr


def test_bench_an_anthropic_model(emulate: str) -> None:
    result = run_cli(
        'bench', '-m', 'anthropic:claude-3-5-haiku-latest', '--base-url', _root(emulate),
        '-n', '4', '-c', '2', '--max-tokens', '5', '-q',
        env=cli_env(ANTHROPIC_API_KEY='emulator-key'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f'modelkit bench: anthropic:claude-3-5-haiku-latest at {_root(emulate)}')
    assert '4 ok, 0 failed' in result.stdout
