"""A saturating run (the emulator at full speed, no time to first token) reports what it needs to
be read right: schedule lag, the client's wait for a CPU, and its warnings in the table and JSON.

No timing is asserted here: how close the TTFT p99 stays to its p50 is a benchmark
(`python -m benchmarks --only loopback`), not a unit test on a shared machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelkit.bench import BenchConfig, BenchResult, RequestRecord, summarize
from modelkit.bench.report import (
    CPU_BUSY_MIN_WALL_S,
    CPU_WAIT_WARNING_SHARE,
    SCHEDULE_LAG_WARNING_S,
    format_table,
    warnings,
    write_json,
)

WARNING_KINDS = {'client_cpu_busy', 'client_saturated', 'client_cpu_starved'}
REQUESTS = 40
SATURATING = (
    'bench', '--emulator-tps', '0', '--emulator-ttft-ms', '0', '-c', '8',
    '-n', str(REQUESTS), '--max-tokens', '16', '-q',
)  # fmt: skip
"""The saturating run of issue 14 (the emulator at full speed, no time to first token, 8 streams),
with fewer and shorter requests: this checks what the report carries, not how fast."""


def test_a_saturating_cli_run_reports_schedule_lag_cpu_wait_and_its_warnings(tmp_path: Path) -> None:
    out = tmp_path / 'run.json'
    result = subprocess.run(
        [sys.executable, '-m', 'modelkit', *SATURATING, '--json', str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    summary = data['summary']
    assert summary['succeeded'] == REQUESTS
    lag = summary['schedule_lag_s']
    assert lag['count'] == REQUESTS
    assert 0.0 <= lag['min'] <= lag['p50'] <= lag['p99'] <= lag['max']
    measured = [r for r in data['requests'] if not r['warmup']]
    assert len(measured) == REQUESTS
    assert all(r['schedule_lag_s'] >= 0.0 for r in measured)
    wait = summary['client_cpu_wait_s']
    if sys.platform == 'linux':
        # The kernel's run-queue wait of the client's loop thread over the measured phase.
        assert isinstance(wait, float)
        assert wait >= 0.0
        assert summary['client_cpu_wait_share'] == pytest.approx(wait / summary['wall_time_s'])
    else:
        assert wait is None
    table = result.stdout
    assert any(line.startswith('schedule lag') for line in table.splitlines())
    # Whichever warnings this machine's load raised, the JSON names each with its figure and
    # limit, and the table prints the same message.
    assert isinstance(data['warnings'], list)
    for warning in data['warnings']:
        assert warning['kind'] in WARNING_KINDS
        assert warning['value'] > warning['limit']
        assert f'warning: {warning["message"]}' in table.splitlines()
    assert table.count('warning: ') == len(data['warnings'])


def result_with(*, lag: float, cpu_wait: float | None, wall: float = CPU_BUSY_MIN_WALL_S * 2) -> BenchResult:
    """100 two-token requests, each started `lag` late, over `wall` seconds, the client having
    waited `cpu_wait` seconds for a CPU."""
    records = [RequestRecord(i, False, i * 0.01, i * 0.01 + lag, 0.01, 0.02, 2) for i in range(100)]
    for r in records:
        r.events, r.itl = 2, [0.01]
        r.first_event_at, r.last_event_at = r.sent_at + 0.01, r.sent_at + 0.02
    summary = summarize(records, wall_time=wall, client_cpu_s=0.1)
    summary.client_cpu_wait_s = cpu_wait
    return BenchResult(BenchConfig(), {}, records, summary, 0.0, wall, client={'processes': 1})


def test_each_warning_is_raised_by_its_own_figure_and_written_to_the_json(tmp_path: Path) -> None:
    wall = CPU_BUSY_MIN_WALL_S * 2
    quiet = result_with(lag=0.0, cpu_wait=wall * CPU_WAIT_WARNING_SHARE / 4)
    starved = result_with(lag=0.0, cpu_wait=wall * CPU_WAIT_WARNING_SHARE * 3)
    late = result_with(lag=SCHEDULE_LAG_WARNING_S * 3, cpu_wait=None)
    assert warnings(quiet) == []
    assert [w['kind'] for w in warnings(starved)] == ['client_cpu_starved']
    assert [w['kind'] for w in warnings(late)] == ['client_saturated']
    assert warnings(starved)[0]['value'] == pytest.approx(CPU_WAIT_WARNING_SHARE * 3)
    assert f'waited for a CPU {CPU_WAIT_WARNING_SHARE * 3:.0%} of the time' in format_table(starved)
    assert 'waited for a CPU' not in format_table(late)  # no figure where the kernel gave none
    path = tmp_path / 'starved.json'
    write_json(starved, path)
    data = json.loads(path.read_text())
    assert [w['kind'] for w in data['warnings']] == ['client_cpu_starved']
    assert data['summary']['client_cpu_wait_share'] == pytest.approx(CPU_WAIT_WARNING_SHARE * 3)


def test_a_short_run_does_not_claim_the_client_was_starved() -> None:
    # As for the busy-core warning: a burst too short to mean it.
    wall = CPU_BUSY_MIN_WALL_S / 4
    assert warnings(result_with(lag=0.0, cpu_wait=wall * 0.9, wall=wall)) == []
