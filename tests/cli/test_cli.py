"""The `modelkit` command, run as users run it: `python -m modelkit ...` in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import anyio
import pytest

from modelkit.emulator import Emulator, EmulatorConfig
from tests.conftest import REPO_ROOT

CLI_TIMEOUT_S = 45.0
"""Bound on every command, under pytest's 60 s so a hang fails here with the command's output."""

EMULATOR_TOKENS = 7


def cli_env(**extra: str) -> dict[str, str]:
    """The test process's environment (vendor keys already scrubbed) plus `extra`."""
    env = dict(os.environ)
    env.pop('MODELKIT_TEST_KEY', None)
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m modelkit ARGS` to completion."""
    return subprocess.run(
        [sys.executable, '-m', 'modelkit', *args],
        cwd=REPO_ROOT,
        env=env or cli_env(),
        input=stdin if stdin is not None else '',
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def spawn(*argv: str, stderr: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start `python -m ARGV` (e.g. `modelkit emulate ...`) with its output on text pipes."""
    return subprocess.Popen(
        [sys.executable, '-m', *argv], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True
    )


def readline_within(stream: IO[str], timeout: float = CLI_TIMEOUT_S) -> str:
    """One line from a child's pipe, or a test failure after `timeout` seconds (never a hang)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f'no line from the child process within {timeout:g} s')


def assert_one_error_line(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """The command failed with `status` and exactly one `modelkit: error:` line naming `needles`."""
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith('modelkit: error: '), line
    for needle in needles:
        assert needle in line
    return line


@pytest.fixture(scope='module')
def emulate() -> Iterator[str]:
    """`modelkit emulate --port 0` running for this module; yields its OpenAI base URL."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit', 'emulate', '--port', '0', '--tokens', str(EMULATOR_TOKENS)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = readline_within(proc.stdout)
        assert 'listening on' in line, line + (proc.stderr.read() if proc.stderr else '')
        base_url = line.split('OpenAI base URL ', 1)[1].split(',', 1)[0]
        yield base_url
    finally:
        proc.terminate()
        proc.communicate(timeout=CLI_TIMEOUT_S)


# --------------------------------------------------------------------------------------------
# Usage and the cheap import
# --------------------------------------------------------------------------------------------


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = 'import sys, modelkit.cli; print(" ".join(sorted(sys.modules)))'
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=True
    )
    loaded = {name.split('.')[0] for name in out.stdout.split()}
    assert not ({'httpx', 'pydantic', 'anyio', 'orjson', 'h11'} & loaded)
    assert not any(name.startswith(('modelkit.models', 'modelkit.bench')) for name in out.stdout.split())


def test_help_and_version() -> None:
    result = run_cli('--help')
    assert result.returncode == 0
    for command in ('chat', 'models', 'emulate', 'bench'):
        assert command in result.stdout
    assert run_cli('--version').stdout.startswith('modelkit ')


def test_models_lists_prefixes_providers_and_their_keys() -> None:
    result = run_cli('models', env=cli_env(ANTHROPIC_API_KEY='sk-test-secret'))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for prefix in ('openai', 'anthropic', 'google-gla', 'bedrock', 'groq'):
        assert prefix in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith('  ') and line.split()}
    assert 'OPENAI_API_KEY' in lines['openai']
    assert 'CO_API_KEY' in lines['cohere']
    assert lines['anthropic'].split()[2] == 'yes'  # set, and the value itself is never shown
    assert lines['openai'].split()[2] == 'no'
    assert 'sk-test-secret' not in out


def test_no_command_is_a_usage_error() -> None:
    assert_one_error_line(run_cli(), 2, 'choose a command')


@pytest.mark.parametrize(
    ('args', 'needle'),
    [
        (['bench', '--concurrency', '0'], '--concurrency'),
        (['bench', '--rate', 'fast'], '--rate'),
        (['bench', '--prompt', 'x', '--prompt-tokens', '5'], 'not allowed with'),
        (['bench', '-m', 'openai:gpt-4o', '--emulator-tps', '5'], '--emulator-tps'),
        (['chat', 'hello'], '--model'),
        (['chat', '-m', 'openai:gpt-4o', '--nope', 'hi'], '--nope'),
        (['emulate', '--port', '70000'], 'port'),
        (['bench', '--json', '/nonexistent-dir/run.json'], 'does not exist'),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(args: list[str], needle: str) -> None:
    assert_one_error_line(run_cli(*args), 2, needle)


def test_unknown_model_prefix_names_the_valid_ones() -> None:
    assert_one_error_line(run_cli('chat', '-m', 'nope:model', 'hi'), 2, "'nope:model'", "'openai'")


@pytest.mark.parametrize(
    ('model', 'needles'),
    [
        ('nope:model', ["'nope:model'", "'openai'"]),
        ('azure:gpt-4o', ["'azure' provider", 'base_url']),
    ],
)
def test_models_that_cannot_take_a_base_url(model: str, needles: list[str]) -> None:
    result = run_cli('chat', '-m', model, '--base-url', 'http://127.0.0.1:9/v1', 'hi')
    assert_one_error_line(result, 2, *needles)


def test_missing_key_is_one_clear_line() -> None:
    # The proxy is a closed local port: were the key check missing, nothing would leave the machine.
    no_egress = cli_env(
        HTTPS_PROXY='http://127.0.0.1:9', HTTP_PROXY='http://127.0.0.1:9', ALL_PROXY='http://127.0.0.1:9'
    )
    result = run_cli('chat', '-m', 'openai:gpt-4o', 'hi', env=no_egress)
    assert_one_error_line(result, 2, 'OPENAI_API_KEY')


def test_api_key_env_that_is_not_set() -> None:
    result = run_cli('chat', '-m', 'openai:gpt-4o', '--api-key-env', 'MODELKIT_TEST_KEY', 'hi')
    assert_one_error_line(result, 2, 'MODELKIT_TEST_KEY', 'not set')


def test_empty_prompt_on_stdin() -> None:
    assert_one_error_line(run_cli('chat', '-m', 'openai:gpt-4o', stdin='  \n'), 2, 'prompt is empty')


# --------------------------------------------------------------------------------------------
# chat against the emulator
# --------------------------------------------------------------------------------------------


def test_chat_streams_the_answer(emulate: str) -> None:
    result = run_cli(
        'chat', '-m', 'openai:gpt-4o', '--base-url', emulate, '--api-key-env', 'MODELKIT_TEST_KEY',
        '--system', 'Be brief.', '--usage', 'Tell me about rivers',
        env=cli_env(MODELKIT_TEST_KEY='emulator-key'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith('\n')
    assert len(result.stdout.split()) == EMULATOR_TOKENS
    assert result.stderr.startswith('usage: ')
    assert f'response tokens {EMULATOR_TOKENS}' in result.stderr


def test_chat_reads_the_prompt_from_stdin(emulate: str) -> None:
    result = run_cli(
        'chat', '-m', 'openai:gpt-4o', '--base-url', emulate, '--max-tokens', '3',
        env=cli_env(OPENAI_API_KEY='emulator-key'), stdin='Tell me about rivers',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == ''


def test_chat_with_a_bad_key_prints_the_401_on_one_line(emulate: str) -> None:
    result = run_cli(
        'chat', '-m', 'openai:gpt-4o', '--base-url', emulate, 'hi', env=cli_env(OPENAI_API_KEY='wrong-key')
    )
    line = assert_one_error_line(result, 1, 'ModelHTTPError', '401', '--debug')
    assert 'wrong-key' not in line
    assert 'Traceback' not in result.stderr


def test_debug_shows_the_traceback_then_the_line(emulate: str) -> None:
    result = run_cli(
        '--debug',
        'chat',
        '-m',
        'openai:gpt-4o',
        '--base-url',
        emulate,
        'hi',
        env=cli_env(OPENAI_API_KEY='wrong-key'),
    )
    assert result.returncode == 1
    assert result.stderr.startswith('Traceback (most recent call last):')
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('modelkit: error: ModelHTTPError: ')
    assert '401' in last


def test_a_stream_that_drops_keeps_what_arrived_and_ends_the_line(emulate: str) -> None:
    # The emulator reads faults from the model name: three tokens, then the connection drops.
    result = run_cli(
        'chat', '-m', 'openai:gpt-4o+fault=drop+fault-after=3', '--base-url', emulate, 'hi',
        env=cli_env(OPENAI_API_KEY='emulator-key'),
    )  # fmt: skip
    assert_one_error_line(result, 1, 'StreamInterrupted')
    assert len(result.stdout.split()) == 3
    assert result.stdout.endswith('\n')


@pytest.mark.anyio
async def test_chat_against_an_in_process_emulator_with_the_readme_command() -> None:
    async with Emulator(EmulatorConfig(tokens=5)) as emu:
        with anyio.fail_after(CLI_TIMEOUT_S):
            result = await anyio.run_process(
                [
                    sys.executable,
                    '-m',
                    'modelkit',
                    'chat',
                    '-m',
                    'openai:gpt-4o',
                    '--base-url',
                    emu.base_url('openai'),
                    'hello',
                ],
                cwd=REPO_ROOT,
                env=cli_env(OPENAI_API_KEY=emu.api_key),
                check=False,
            )
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.decode().split()) == 5


# --------------------------------------------------------------------------------------------
# emulate and Ctrl-C
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == 'win32', reason='SIGINT to a child process is POSIX-only')
def test_emulate_stops_quietly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit', 'emulate', '--port', '0'],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert 'listening on http://127.0.0.1:' in readline_within(proc.stdout)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        proc.kill()
        proc.wait(timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 130
    assert err == ''


@pytest.mark.skipif(sys.platform == 'win32', reason='SIGINT to a child process is POSIX-only')
def test_bench_ctrl_c_prints_and_writes_what_completed(tmp_path: Path) -> None:
    json_path, svg_path = tmp_path / 'run.json', tmp_path / 'run.svg'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit', 'bench', '-n', '1000', '-c', '4', '--emulator-tps', '100',
         '--max-tokens', '8', '--json', str(json_path), '--plot', str(svg_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        # Progress lines (stderr is a pipe: whole lines): wait for the measured phase to start.
        while 'measuring' not in (line := readline_within(proc.stderr)):
            assert line.startswith('bench: '), line
        emulators = child_pids(proc.pid)
        assert emulators or not Path('/proc').is_dir()
        time.sleep(1.0)  # some requests finish (8 tokens at 100/s: about 0.13 s each)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        proc.kill()
        proc.wait(timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 130, err
    assert 'Traceback' not in err
    assert 'interrupted' in out
    assert 'time to first token' in out
    data = json.loads(json_path.read_text())
    assert data['interrupted'] is True
    measured = [r for r in data['requests'] if not r['warmup']]
    assert 0 < data['summary']['requests'] == len(measured) < 1000
    ET.fromstring(svg_path.read_text())  # a whole SVG document
    # The embedded emulator went with it (the bench waits for its child before exiting).
    assert all(not Path(f'/proc/{pid}').exists() for pid in emulators)


def test_bench_refuses_requests_with_duration() -> None:
    assert_one_error_line(run_cli('bench', '-n', '10', '-d', '5'), 2, '-n', '-d', 'not both')


def test_bench_by_base_url_describes_the_server_it_measured(emulate: str) -> None:
    result = run_cli('bench', '--base-url', emulate, '-n', '4', '-c', '2', '-q')
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first == f'modelkit bench: the server at {emulate}'  # no pace it was never told
    asked = run_cli('bench', '--base-url', emulate, '-n', '2', '-c', '1', '-q', '--emulator-tps', '500')
    assert asked.returncode == 0, asked.stderr
    assert '500 tokens/s' in asked.stdout.splitlines()[0]
    assert 'x-emulator' in asked.stdout.splitlines()[0]


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc; empty elsewhere)."""
    children = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


# --------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------


def test_bench_runs_the_embedded_emulator_and_writes_json_and_svg(tmp_path: Path) -> None:
    result = run_cli(
        'bench', '-n', '6', '-c', '3', '--warmup', '2', '--max-tokens', '9',
        '--emulator-tps', '2000', '--emulator-ttft-ms', '5',
        '--json', str(tmp_path / 'run.json'), '--plot', str(tmp_path / 'run.svg'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith('modelkit bench: embedded emulator (9 tokens')
    for row in ('time to first token', 'inter-token latency', 'end-to-end latency', 'tokens/s per stream'):
        assert row in out
    assert 'client CPU' in out
    assert '6 ok, 0 failed' in out

    data = json.loads((tmp_path / 'run.json').read_text())
    assert data['summary']['succeeded'] == 6
    assert data['summary']['output_tokens'] == 54
    assert [r['output_tokens'] for r in data['requests']] == [9] * 8
    assert data['target']['kind'] == 'emulator'
    assert data['target']['embedded'] is True
    root = ET.fromstring((tmp_path / 'run.svg').read_text())
    assert root.tag == '{http://www.w3.org/2000/svg}svg'
    assert f'wrote {tmp_path / "run.json"}' in result.stderr


def test_bench_against_a_running_emulator_by_base_url(emulate: str) -> None:
    result = run_cli(
        'bench', '--base-url', emulate, '-n', '3', '-c', '3', '--max-tokens', '4', '-q', '--emulator-tps', '0'
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f'modelkit bench: the server at {emulate} (asked by x-emulator-* headers for 4 tokens unpaced, '
        '50 ms to first token)'
    )
    assert result.stderr == ''


def test_bench_where_every_request_fails_prints_the_errors_and_exits_1(emulate: str) -> None:
    result = run_cli(
        'bench', '-m', 'openai:gpt-4o+fault=500', '--base-url', emulate, '-n', '3', '--warmup', '0', '-q',
        env=cli_env(OPENAI_API_KEY='emulator-key'),
    )  # fmt: skip
    assert_one_error_line(result, 1, 'every measured request failed')
    assert '0 ok, 3 failed' in result.stdout
    assert '3 x ModelHTTPError 500: openai status_code: 500' in result.stdout


def test_bench_that_cannot_reach_its_target_says_so_once() -> None:
    result = run_cli(
        'bench', '-m', 'openai:gpt-4o', '--base-url', 'http://127.0.0.1:9/v1',
        '-n', '2', '--warmup', '1', '-q', env=cli_env(OPENAI_API_KEY='k'),
    )  # fmt: skip
    assert_one_error_line(result, 1, 'every warmup request failed', 'ModelConnectionError')
