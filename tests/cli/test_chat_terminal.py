"""`modelkit chat` with no prompt on a terminal: a real pseudo-terminal, keystrokes and Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cli.test_cli import CLI_TIMEOUT_S, cli_env, readline_within, spawn
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX-only')

# The child must own the terminal (a session leader with it as controlling tty), or the
# terminal's Ctrl-C would not reach it as SIGINT; then it becomes `python -m ...`.
LAUNCH = (
    'import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); '
    "os.execv(sys.executable, [sys.executable, '-m', *sys.argv[1:]])"
)
PROMPT = b'> '
CTRL_C = b'\x03'
CTRL_D = b'\x04'
LINE_EDITOR_SETTLE_S = 0.5
"""Time for readline to take the terminal after it shows the prompt (a human's keystroke is slower)."""


class Terminal:
    """A command on a pseudo-terminal: type into it, read what it shows, with deadlines."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, '-c', LAUNCH, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=REPO_ROOT,
            env=env or cli_env(),
            start_new_session=True,
        )
        os.close(slave)
        self.pending = b''

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def read_until(self, needle: bytes, timeout: float = CLI_TIMEOUT_S) -> str:
        """Everything shown up to and including `needle`; a test failure after `timeout` s."""
        deadline = time.monotonic() + timeout
        while needle not in self.pending:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, left))
            if not ready:
                pytest.fail(f'{needle!r} not shown within {timeout:g} s; the screen: {self.pending!r}')
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the child closed the terminal
                chunk = b''
            if not chunk:
                pytest.fail(f'the command ended before showing {needle!r}: {self.pending!r}')
            self.pending += chunk
        cut = self.pending.index(needle) + len(needle)
        shown, self.pending = self.pending[:cut], self.pending[cut:]
        return shown.decode('utf-8', 'replace').replace('\r\n', '\n')

    def wait(self) -> int:
        return self.proc.wait(timeout=CLI_TIMEOUT_S)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=CLI_TIMEOUT_S)
        os.close(self.master)


@pytest.fixture
def slow_emulator() -> Iterator[str]:
    """`modelkit emulate` answering 400 tokens at 20 tokens/s: 20 s to interrupt; yields its base URL."""
    proc = spawn(
        'modelkit', 'emulate', '--port', '0', '--tps', '20', '--tokens', '400', stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        line = readline_within(proc.stdout)
        found = re.search(r'http://127\.0\.0\.1:\d+', line)
        assert found, line
        yield found.group(0) + '/v1'
    finally:
        proc.terminate()
        proc.communicate(timeout=CLI_TIMEOUT_S)


def usage_request_tokens(screen: str) -> int:
    found = re.search(r'usage: request tokens (\d+)', screen)
    assert found, screen
    return int(found.group(1))


def test_a_conversation_keeps_its_history_and_ends_on_ctrl_d() -> None:
    with Terminal('modelkit', 'chat', '-m', 'test', '--usage') as term:
        assert 'Ctrl-D or /exit' in term.read_until(PROMPT)
        term.type(b'hello there\r')
        first = term.read_until(PROMPT)
        assert 'success (no tool calls)' in first
        term.type(b'and once more\r')
        second = term.read_until(PROMPT)
        # The second request carries the first exchange too, so it is the longer one.
        assert usage_request_tokens(second) > usage_request_tokens(first)
        term.type(CTRL_D)
        assert term.wait() == 0


def test_exit_command_leaves() -> None:
    with Terminal('modelkit', 'chat', '-m', 'test') as term:
        term.read_until(PROMPT)
        term.type(b'/exit\r')
        assert term.wait() == 0


def test_ctrl_c_stops_the_answer_and_the_conversation_goes_on(slow_emulator: str) -> None:
    env = cli_env(MODELKIT_TEST_KEY='emulator-key')
    with Terminal(
        'modelkit', 'chat', '-m', 'openai:gpt-4o', '--base-url', slow_emulator,
        '--api-key-env', 'MODELKIT_TEST_KEY', '--max-tokens', '400', env=env,
    ) as term:  # fmt: skip
        term.read_until(PROMPT)
        term.type(b'tell me a long story\r')
        term.read_until(b'tell me a long story\r\n')
        # Streamed: words show up long before the 20 s answer would end.
        streamed = term.read_until(b' ', timeout=10)
        assert streamed.strip()
        started = time.monotonic()
        term.type(CTRL_C)
        after = term.read_until(PROMPT, timeout=10)
        assert time.monotonic() - started < 10
        assert '(answer cancelled)' in after
        assert 'Traceback' not in after
        assert term.proc.poll() is None  # still there, at a new prompt
        term.type(b'/exit\r')
        assert term.wait() == 0


def test_ctrl_c_at_the_prompt_asks_again() -> None:
    with Terminal('modelkit', 'chat', '-m', 'test') as term:
        term.read_until(PROMPT)
        # The line editor prints the prompt before it takes the terminal; a Ctrl-C in between
        # would reach a terminal it is still setting up, which no typing person can hit.
        time.sleep(LINE_EDITOR_SETTLE_S)
        term.type(b'half a thou')
        term.read_until(b'half a thou')
        term.type(CTRL_C)
        term.read_until(PROMPT)
        assert term.proc.poll() is None
        term.type(CTRL_D)
        assert term.wait() == 0
