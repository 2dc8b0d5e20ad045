"""What the command line says about model strings, keys and ports: the words a user acts on."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from importlib.util import find_spec

import pytest

from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.models import _MODEL_PREFIXES
from tests.cli.test_cli import CLI_TIMEOUT_S, assert_one_error_line, cli_env, readline_within, run_cli, spawn
from tests.conftest import REPO_ROOT

NO_EGRESS = {'HTTPS_PROXY': 'http://127.0.0.1:9', 'HTTP_PROXY': 'http://127.0.0.1:9'}
"""A closed local port as proxy: were a key check missing, nothing would leave the machine."""


def built(prefix: str) -> bool:
    return find_spec(f'modelkit.models.{_MODEL_PREFIXES[prefix][0]}') is not None


def test_chat_with_the_test_model_answers() -> None:
    result = run_cli('chat', '-m', 'test', 'hi')
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'success (no tool calls)\n'  # TestModel's answer, as `Agent('test')` gives


def test_a_prefix_with_no_model_name() -> None:
    assert_one_error_line(
        run_cli('chat', '-m', 'openai:', 'hi'), 2, 'missing the model name', 'openai:gpt-4o'
    )


@pytest.mark.parametrize(
    ('typo', 'meant'), [('openia', 'openai'), ('antropic', 'anthropic'), ('gemni', 'gemini')]
)
def test_a_near_miss_prefix_gets_did_you_mean(typo: str, meant: str) -> None:
    line = assert_one_error_line(run_cli('chat', '-m', f'{typo}:some-model', 'hi'), 2, f'{typo!r}')
    assert f'did you mean {meant!r}?' in line or (meant == 'gemini' and "did you mean 'google-gla'?" in line)


def test_a_far_off_prefix_lists_them_all_marking_the_unbuilt() -> None:
    line = assert_one_error_line(run_cli('chat', '-m', 'zzzz:model', 'hi'), 2, "'zzzz'")
    assert 'did you mean' not in line
    for prefix in _MODEL_PREFIXES:
        assert re.search(rf'\b{re.escape(prefix)}(\*)?[,\s]', line), prefix
        assert (f'{prefix}*' in line) == (not built(prefix))
    assert ('not built yet' in line) == (not all(map(built, _MODEL_PREFIXES)))


def test_models_marks_the_prefixes_not_built_yet() -> None:
    result = run_cli('models')
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split('Prefixes:', 1)[1].split('provider', 1)[0]
    for prefix in _MODEL_PREFIXES:
        assert (f'{prefix}*' in listing) == (not built(prefix)), prefix
    assert ('* not built' in listing) == (not all(map(built, _MODEL_PREFIXES)))


@pytest.mark.skipif(
    all(find_spec(f'modelkit.models.{m}') for m, _, _ in _MODEL_PREFIXES.values()), reason='all built'
)
def test_an_unbuilt_vendor_says_so_and_names_the_built_ones() -> None:
    prefix = next(p for p in _MODEL_PREFIXES if not built(p))
    assert_one_error_line(
        run_cli('chat', '-m', f'{prefix}:a-model', 'hi'), 2, f'{prefix!r}', 'not built', 'openai'
    )


def test_a_missing_key_says_how_to_fix_it_on_the_command_line() -> None:
    result = run_cli('chat', '-m', 'openai:gpt-4o', 'hi', env=cli_env(**NO_EGRESS))
    line = assert_one_error_line(result, 2, 'OPENAI_API_KEY', '--api-key-env')
    assert 'api_key=' not in line


def test_a_missing_key_for_the_bench_says_the_same() -> None:
    result = run_cli('bench', '-m', 'deepseek:deepseek-chat', '-n', '1', '-q', env=cli_env(**NO_EGRESS))
    line = assert_one_error_line(result, 2, 'DEEPSEEK_API_KEY', '--api-key-env')
    assert 'api_key=' not in line


def test_a_busy_port_suggests_port_0() -> None:
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, '-m', 'modelkit', 'emulate', '--port', str(port)],
            cwd=REPO_ROOT,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    line = assert_one_error_line(result, 1, f'port {port}', 'in use', '--port 0')
    assert 'Traceback' not in line
    assert '--debug' not in line


def test_emulator_module_with_any_key_prints_no_key() -> None:
    proc = spawn('modelkit.emulator', '--port', '0', '--any-key')
    try:
        assert proc.stdout is not None
        lines = [readline_within(proc.stdout)]
        assert 'http://127.0.0.1:' in lines[0]
        # Read up to the first pasted environment line, which would carry a key if any line did.
        while not lines[-1].startswith('export OPENAI_'):
            lines.append(readline_within(proc.stdout))
    finally:
        proc.terminate()
        proc.communicate(timeout=CLI_TIMEOUT_S)
    output = ''.join(lines)
    assert 'emulator-key' not in output
    assert 'OPENAI_API_KEY=any-non-empty-value' in output
    # Every vendor's lines, not only the first one read above.
    with Emulator(EmulatorConfig(api_key=None)) as emulator:
        every_line = '\n'.join(emulator.startup_lines())
    assert 'emulator-key' not in every_line
    assert every_line.count('any-non-empty-value') == every_line.count('export ')


def test_bench_with_the_test_model_measures_the_client_alone() -> None:
    result = run_cli('bench', '-m', 'test', '-n', '5', '-c', '1', '-q')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('modelkit bench: test\n5 requests')
    assert '5 ok, 0 failed' in result.stdout


def test_the_test_model_takes_no_base_url() -> None:
    result = run_cli('chat', '-m', 'test', '--base-url', 'http://127.0.0.1:9/v1', 'hi')
    assert_one_error_line(result, 2, 'test model', '--base-url')
