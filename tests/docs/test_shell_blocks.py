"""The shell blocks of README.md and docs/*.md, run verbatim in a fresh shell, as a new user would.

Each runs in `bash` with a temporary HOME, the virtualenv's bin first on PATH and no vendor key
in the environment, under a deadline; whatever it started in the background (an emulator) is
stopped with it. Blocks that install packages or need a vendor's key and the network cannot run
here: they are listed in `SKIPPED` with the reason, and a block that is neither run nor listed
fails the suite, so none is dropped silently.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

BLOCK_DEADLINE_S = 50.0
"""Per block, under pytest's 60 s: the longest (three short bench runs) takes about 15 s alone."""

DOC_PORT = 8400
"""The port the documented commands use; it must be free for them to run verbatim."""

PORT_WAIT_S = 20.0
"""How long to wait for another run's emulator to let go of `DOC_PORT` before giving up."""

FENCE = re.compile(r'^```(bash|sh|shell)\n(.*?)^```', re.MULTILINE | re.DOTALL)

INSTALLS = 'installs packages into the environment (the suite runs in an installed one)'
NETWORK = "needs a real vendor's API key and the network"

SKIPPED: dict[tuple[str, str], str] = {
    ('README.md', 'pip install . && modelkit bench'): INSTALLS,
    (
        'README.md',
        "pip install -e '.[test,fast,ray]' -r tests/requirements-fidelity.txt && python -m pytest",
    ): INSTALLS,
    ('README.md', 'pip install -e . -r benchmarks/requirements.txt && python -m benchmarks'): INSTALLS,
    ('docs/index.md', 'pip install .'): INSTALLS,
    ('docs/cli.md', "export OPENAI_API_KEY='your-api-key'"): NETWORK,
    (
        'docs/cli.md',
        'modelkit bench -m openai:gpt-4o-mini -n 20 -c 2 --max-tokens 64 --prompt "Tell me a story."',
    ): (NETWORK),
    (
        'docs/cli.md',
        'export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0',
    ): (
        'starts a Ray cluster and "ray stop" ends every Ray process of the user; '
        'tests/bench/test_bench_ray.py runs the same bench on a local cluster of its own'
    ),
    (
        'docs/cli.md',
        'modelkit bench --ray auto --workers 16 -m openai:my-model --base-url http://10.0.0.5:8000/v1 '
        '--rate 200 -d 60 --json run.json',
    ): 'needs a Ray cluster and an endpoint on another machine',
    ('docs/cli.md', 'modelkit emulate'): (
        'each command serves in the foreground until Ctrl-C; the blocks that run start the same '
        'server in the background'
    ),
    ('docs/models.md', "export OPENAI_API_KEY='your-api-key'"): (
        'only sets a placeholder key for the real-vendor Python examples that follow'
    ),
    ('docs/models.md', "export GEMINI_API_KEY='your-api-key'"): (
        'only sets a placeholder key for the real-vendor Python examples that follow'
    ),
}
"""(file, first line of the block) -> why it is not run."""


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.text.splitlines()[0].strip()

    def __str__(self) -> str:
        return f'{self.path}:{self.line}'


def shell_blocks() -> list[Block]:
    """Every bash block of README.md and docs/*.md, in order."""
    blocks = []
    for path in [REPO_ROOT / 'README.md', *sorted((REPO_ROOT / 'docs').glob('*.md'))]:
        text = path.read_text(encoding='utf-8')
        for match in FENCE.finditer(text):
            line = text.count('\n', 0, match.start()) + 2
            blocks.append(Block(path.relative_to(REPO_ROOT).as_posix(), line, match.group(2)))
    return blocks


BLOCKS = shell_blocks()
TO_RUN = [b for b in BLOCKS if b.key not in SKIPPED]


def test_the_skip_list_names_real_blocks_and_the_rest_use_the_emulator() -> None:
    keys = {b.key for b in BLOCKS}
    assert not set(SKIPPED) - keys, 'SKIPPED lists blocks the docs no longer have'
    for block in TO_RUN:
        # What runs here must need nothing outside this machine: no install, no vendor.
        assert 'pip install' not in block.text, block
        uses_emulator = '127.0.0.1' in block.text or 'modelkit bench' in block.text
        assert uses_emulator or '-m test' in block.text or block.text.strip() == 'modelkit models', block


def fresh_env(home: Path) -> dict[str, str]:
    """What a new login shell has: HOME, a PATH led by the virtualenv, a UTF-8 locale; no keys."""
    venv_bin = str(Path(sys.executable).parent)
    return {'HOME': str(home), 'PATH': f'{venv_bin}:/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8'}


def wait_for_group_exit(pgid: int) -> None:
    """Until every process of group `pgid` is gone (SIGKILL after `PORT_WAIT_S`)."""
    deadline = time.monotonic() + PORT_WAIT_S
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.05)


def wait_for_free_port(port: int) -> bool:
    deadline = time.monotonic() + PORT_WAIT_S
    while True:
        with socket.socket() as probe:
            # As a server binds: connections of an earlier run in TIME_WAIT do not block it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(('127.0.0.1', port))
            except OSError:
                if time.monotonic() > deadline:
                    return False
            else:
                return True
        time.sleep(0.5)


@pytest.mark.skipif(sys.platform == 'win32', reason='the documented commands are for a POSIX shell')
@pytest.mark.parametrize('block', TO_RUN, ids=str)
def test_shell_block_runs_verbatim(block: Block, tmp_path: Path) -> None:
    if f':{DOC_PORT}' in block.text and not wait_for_free_port(DOC_PORT):
        message = (
            f'port {DOC_PORT} stayed busy for {PORT_WAIT_S:g} s (another run of the documented commands?)'
        )
        if os.environ.get('CI') == 'true':
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path / 'home'
    home.mkdir()
    # Files, not pipes: a background job keeps a pipe open after the block ends.
    out_path, err_path = tmp_path / 'stdout', tmp_path / 'stderr'
    with out_path.open('w') as out_file, err_path.open('w') as err_file:
        proc = subprocess.Popen(
            ['bash', '--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', block.text],
            cwd=tmp_path,
            env=fresh_env(home),
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
            start_new_session=True,  # its own process group: background jobs are stopped with it
        )
        try:
            proc.wait(timeout=BLOCK_DEADLINE_S)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # The block's background emulator, if any: same group. SIGTERM, not SIGINT, which a
            # non-interactive bash has its background jobs ignore.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL if timed_out else signal.SIGTERM)
            proc.wait(timeout=BLOCK_DEADLINE_S)
            wait_for_group_exit(proc.pid)
    out, err = out_path.read_text(), err_path.read_text()
    if timed_out:
        pytest.fail(f'{block} did not finish within {BLOCK_DEADLINE_S:g} s\n{out}\n{err}')
    assert proc.returncode == 0, (
        f'{block} failed ({proc.returncode}):\n{block.text}\nstdout:\n{out}\nstderr:\n{err}'
    )
    assert 'modelkit: error' not in err, err
    assert out.strip(), f'{block} printed nothing'


def test_every_block_is_run_or_skipped_with_a_reason() -> None:
    # Printed with -rA / in the report: what was not run, and why.
    for block in BLOCKS:
        if block.key in SKIPPED:
            assert SKIPPED[block.key].strip()
    assert len(TO_RUN) + sum(b.key in SKIPPED for b in BLOCKS) == len(BLOCKS)
    assert TO_RUN, 'no documented shell block uses the emulator any more'


@pytest.mark.parametrize('block', [b for b in BLOCKS if b.key in SKIPPED], ids=str)
def test_shell_block_not_run_here(block: Block) -> None:
    # Listed in the test report (-ra) with its reason, so the blocks left out stay visible.
    pytest.skip(f'{block}: {SKIPPED[block.key]}')
