"""`modelkit bench --processes N` end to end: the same figures as one process, and a loud failure.

The load is far below saturation (a paced emulator, four streams) so that on a loaded two-core
machine both runs measure the emulator's pace, not the machine's contention.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PACED = ['--emulator-tps', '50', '--emulator-ttft-ms', '300', '--max-tokens', '10']
"""A request takes about 300 ms to its first token and 480 ms in all: long enough that a loaded
machine's scheduling noise (tens of milliseconds at worst) stays inside the 10% compared."""


def bench(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    out = tmp_path / f'{name}.json'
    result = subprocess.run(
        [sys.executable, '-m', 'modelkit', 'bench', *PACED, '-q', '--json', str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.mark.timeout(180)
def test_two_processes_measure_what_one_does_at_the_same_load(tmp_path: Path) -> None:
    load = ['-c', '4', '-n', '16', '--warmup', '4']
    one = bench(tmp_path, 'one', *load)
    two = bench(tmp_path, 'two', *load, '--processes', '2')
    assert two['client']['processes'] == 2
    assert [w['share']['concurrency'] for w in two['workers']] == [2, 2]
    assert [w['requests'] for w in two['workers']] == [8, 8]
    assert {r['worker'] for r in two['requests']} == {0, 1}
    a, b = one['summary'], two['summary']
    assert (a['succeeded'], b['succeeded']) == (16, 16)
    assert b['tokens_per_s'] == pytest.approx(a['tokens_per_s'], rel=0.10)
    assert b['ttft_s']['p50'] == pytest.approx(a['ttft_s']['p50'], rel=0.10)


def spawned_children(parent: int) -> list[int]:
    """The multiprocessing children of `parent` (not its emulator, not the resource tracker)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / 'status').read_text()
            cmdline = (entry / 'cmdline').read_bytes()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in status.splitlines() if line.startswith('PPid:')), '')
        if ppid == str(parent) and b'spawn_main' in cmdline:
            found.append(int(entry.name))
    return sorted(found)


@pytest.mark.skipif(not Path('/proc/self/status').exists(), reason='finds the children through /proc')
@pytest.mark.timeout(120)
def test_a_process_that_dies_ends_the_run_with_exit_1_naming_it(tmp_path: Path) -> None:
    out = tmp_path / 'run.json'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit', 'bench', *PACED, '-c', '4', '-d', '30', '--processes', '2',
         '--json', str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        for line in proc.stderr:  # the test's timeout bounds a start that never comes
            lines.append(line)
            if 'warmed up; measuring' in line:
                break
        children = spawned_children(proc.pid)
        assert len(children) == 2, ''.join(lines)
        time.sleep(1.0)  # some requests complete first
        os.kill(children[1], signal.SIGKILL)
        killed_at = time.monotonic()
        _, rest = proc.communicate(timeout=60)
        stderr = ''.join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stderr
    assert time.monotonic() - killed_at < 15
    assert f'(pid {children[1]}) was killed by signal 9' in stderr
    data = json.loads(out.read_text())
    assert data['status'] == 'incomplete'
    assert [w['status'] for w in data['workers']].count('died') == 1
    assert data['summary']['succeeded'] > 0  # the other process's completed requests are kept


@pytest.mark.parametrize('loop', ['asyncio', 'trio'])
def test_the_loop_asked_for_is_the_one_measured_and_reported(tmp_path: Path, loop: str) -> None:
    out = tmp_path / 'run.json'
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'modelkit',
            'bench',
            '-m',
            'test',
            '-n',
            '4',
            '-q',
            '--loop',
            loop,
            '--json',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f'client: {loop} event loop' in result.stdout
    assert json.loads(out.read_text())['client']['loop'] == loop
