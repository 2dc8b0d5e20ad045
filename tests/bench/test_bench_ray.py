"""`modelkit bench --ray`: on a local Ray cluster, the same figures as one process, loud failures.

One cluster serves the whole module (starting Ray takes seconds on a loaded machine): two CPUs,
its node address 127.0.0.1 so every Ray server listens and connects on loopback only, usage
statistics off, token authentication with a token of its own (nothing written to ~/.ray). The
killed-worker run is a subprocess, a driver connecting by address as a user's would; the others
run `modelkit.cli.main` in this process, which is already connected (saving a driver's start).

The load is the paced one of the `--processes` test (300 ms to the first token, 50 tokens/s):
far below what two workers can drive, so both runs measure the emulator's pace, not the machine.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelkit.bench import BenchConfig, BenchResult, summarize
from modelkit.bench.plan import ArrivalFilter
from modelkit.bench.report import format_table
from modelkit.cli import main
from tests.helpers.ci import skip_unless_ci

PACED = ['--emulator-tps', '50', '--emulator-ttft-ms', '300', '--max-tokens', '10']

RAY_ENV = {
    'RAY_USAGE_STATS_ENABLED': '0',
    # Lets the node's address be 127.0.0.1 (Ray otherwise swaps loopback for the address of the
    # interface that routes outwards), and Ray binds its servers to the node's address.
    'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER': '0',
    'RAY_AUTH_MODE': 'token',
}


def require_ray() -> None:
    if importlib.util.find_spec('ray') is None:
        skip_unless_ci("ray is not installed (the `ray` extra: pip install -e '.[ray]')")


@pytest.fixture(scope='module')
def ray_address() -> Iterator[str]:
    """The address of a local two-CPU Ray cluster, started once for the module."""
    require_ray()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**RAY_ENV, 'RAY_AUTH_TOKEN': secrets.token_hex(32)}.items():
            mp.setenv(name, value)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # Ray's own deprecations are not this suite's errors
            import ray

            context = ray.init(
                num_cpus=2,
                include_dashboard=False,
                _node_ip_address='127.0.0.1',
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        address = str(context.address_info['address'])
        assert address.startswith('127.0.0.1:'), address
        try:
            yield address
        finally:
            ray.shutdown()


def run_cli(*args: str) -> tuple[int, str]:
    """`modelkit ARGS` in this process (already connected to the cluster); exit status and stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(args))
    return status, err.getvalue()


def bench(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    """`modelkit bench` on the paced emulator, in this process; its JSON report."""
    out = tmp_path / f'{name}.json'
    status, err = run_cli('bench', *PACED, '-q', '--json', str(out), *args)
    assert status == 0, err
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def first_measured_send(data: dict[str, Any], worker: int) -> float:
    return min(r['sent_at_s'] for r in data['requests'] if r['worker'] == worker and not r['warmup'])


@pytest.mark.timeout(150)
def test_two_ray_workers_measure_what_one_process_does(tmp_path: Path, ray_address: str) -> None:
    load = ['-c', '4', '-n', '16', '--warmup', '4']
    one = bench(tmp_path, 'one', *load)
    two = bench(tmp_path, 'two', *load, '--ray', ray_address, '--workers', '2')
    assert two['status'] == 'complete'
    assert two['client']['ray'] == {'address': ray_address, 'nodes': 1}
    a, b = one['summary'], two['summary']
    assert (a['succeeded'], b['succeeded']) == (16, 16)
    assert b['tokens_per_s'] == pytest.approx(a['tokens_per_s'], rel=0.10)
    assert b['ttft_s']['p50'] == pytest.approx(a['ttft_s']['p50'], rel=0.10)

    # The plan of --processes: the closed loop's streams, requests and warmup split evenly.
    workers = two['workers']
    assert [w['share']['concurrency'] for w in workers] == [2, 2]
    assert [w['requests'] for w in workers] == [8, 8]
    assert [w['share']['warmup'] for w in workers] == [2, 2]
    assert all(w['status'] == 'ok' and w['error'] is None for w in workers)
    # Every record came back tagged with its worker, warmup ones included, and the summary is
    # computed on all of them together.
    records = two['requests']
    assert sorted((r['worker'], r['warmup']) for r in records).count((0, True)) == 2
    assert {r['worker'] for r in records if not r['warmup']} == {0, 1}
    assert len([r for r in records if not r['warmup']]) == b['requests'] == 16

    # One start instant: on one machine the clock offsets are near zero, and both workers'
    # first measured requests go out together on the merged time line.
    for w in workers:
        assert w['node']['ip'] == '127.0.0.1'
        assert abs(w['clock_offset_s']) < 0.05
        assert 0 <= w['clock_offset_error_s'] < 0.05
        assert w['start_lag_s'] < 0.1
        # Streamed back in batches at least once a second (their heartbeat).
        assert w['batches'] >= 3
        assert w['max_batch_gap_s'] < 1.0
        assert 0 < w['client_cpu_share'] < 0.8
    assert abs(first_measured_send(two, 0) - first_measured_send(two, 1)) < 0.05

    # Client CPU sums the workers', and the per-1,000-token figure is computed on that sum.
    cpu = sum(w['client_cpu_s'] for w in workers)
    assert b['client_cpu_s'] == pytest.approx(cpu)
    assert b['client_cpu_ms_per_1k_tokens'] == pytest.approx(cpu * 1e6 / b['output_tokens'])


@pytest.mark.skipif(not hasattr(signal, 'SIGKILL'), reason='kills a worker with SIGKILL')
@pytest.mark.timeout(120)
def test_a_killed_worker_ends_the_poisson_run_with_exit_1_naming_it_and_its_node(
    tmp_path: Path, ray_address: str
) -> None:
    out = tmp_path / 'run.json'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit', 'bench', *PACED, '--rate', '16', '--warmup', '2', '-d', '30',
         '--ray', ray_address, '--workers', '2', '--json', str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    pids: dict[int, int] = {}
    try:
        for line in proc.stderr:  # the test's timeout bounds a start that never comes
            lines.append(line)
            pids.update(
                (int(w), int(p)) for w, p in re.findall(r'worker (\d+) on \S+ \(\S+\) \(pid (\d+)\)', line)
            )
            if 'warmed up; measuring' in line:
                break
        assert sorted(pids) == [0, 1], ''.join(lines)
        time.sleep(2.0)  # some requests of each worker complete and stream back first
        os.kill(pids[1], signal.SIGKILL)
        killed_at = time.monotonic()
        _, rest = proc.communicate(timeout=60)
        ended_after = time.monotonic() - killed_at
        stderr = ''.join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stderr
    assert ended_after < 10, stderr
    assert f'Ray worker 1 (pid {pids[1]}) on node 127.0.0.1 ' in stderr
    data = json.loads(out.read_text())
    assert data['status'] == 'incomplete'
    assert [w['status'] for w in data['workers']] == ['stopped', 'died']
    # The records that arrived are kept, the dead worker's included; its share was not run again
    # elsewhere (that would have kept the run going to its 30 s).
    assert data['summary']['succeeded'] > 0
    measured = [r for r in data['requests'] if not r['warmup']]
    assert {r['worker'] for r in measured} == {0, 1}
    assert data['workers'][1]['requests'] > 0
    # The plan of --processes: one seeded Poisson schedule, each arrival sent by the worker its
    # seeded hash names, and only by it, once.
    assert [w['share']['arrivals'] for w in data['workers']] == ['1 in 2 of the seeded schedule'] * 2
    owners = ArrivalFilter(0, 2, seed=0)
    assert all(owners.owner(r['index']) == r['worker'] for r in measured)
    assert len({r['index'] for r in measured}) == len(measured)


@pytest.mark.timeout(60)
def test_more_workers_than_cpus_fails_fast_with_a_clear_message(ray_address: str) -> None:
    started = time.monotonic()
    status, err = run_cli('bench', '-q', '--ray', ray_address, '--workers', '3')
    assert status == 2
    assert '--workers 3 needs 3 CPUs (one per worker), and the Ray cluster has 2 in all' in err
    assert time.monotonic() - started < 5  # refused before any emulator or worker started


@pytest.mark.timeout(90)
def test_placement_that_times_out_says_how_many_workers_were_placed(ray_address: str) -> None:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    # Another job holds one of the two CPUs: the second worker cannot be placed.
    held = placement_group([{'CPU': 1}])
    ray.get(held.ready(), timeout=30)
    try:
        status, err = run_cli(
            'bench', '-q', *PACED, '--ray', ray_address, '--workers', '2', '--placement-timeout', '4'
        )
    finally:
        remove_placement_group(held)
    assert status == 1
    assert 'placed 1 of 2 Ray workers within 4 s' in err
    assert "0 of the cluster's 2 CPUs are free" in err  # the placed worker holds the other


def test_the_embedded_emulator_is_refused_on_a_cluster_with_other_nodes() -> None:
    require_ray()
    from modelkit.bench.ray import RayCluster, check_cluster
    from modelkit.exceptions import UserError

    here = {'Alive': True, 'NodeManagerAddress': '127.0.0.1', 'NodeManagerHostname': 'laptop'}
    there = {'Alive': True, 'NodeManagerAddress': '10.0.0.7', 'NodeManagerHostname': 'gpu-7'}
    local = RayCluster('auto', [here], 2, connected_here=False)
    remote = RayCluster('10.0.0.1:6379', [here, there], 16, connected_here=False)
    check_cluster(local, 2, embedded=True, base_url=None)  # one machine: its loopback is reachable
    with pytest.raises(UserError, match=r'embedded emulator .* pass its URL with --base-url'):
        check_cluster(remote, 2, embedded=True, base_url=None)
    with pytest.raises(UserError, match='loopback address'):
        check_cluster(remote, 2, embedded=False, base_url='http://127.0.0.1:8400/v1')
    check_cluster(remote, 2, embedded=False, base_url='http://10.0.0.1:8400/v1')


def worker_entry(worker: int, **figures: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        'worker': worker,
        'node': {'ip': '10.0.0.7', 'hostname': 'gpu-7'},
        'requests': 8,
        'client_cpu_s': 0.1,
        'client_cpu_share': 0.05,
        'schedule_lag_p99_s': 0.001,
        'clock_offset_s': 0.002,
        'clock_offset_error_s': 0.0004,
        'status': 'ok',
    }
    entry.update(figures)
    return entry


def test_the_report_warns_about_a_busy_or_lagging_worker_by_name() -> None:
    result = BenchResult(
        BenchConfig(),
        {'kind': 'model', 'model': 'openai:gpt-4o'},
        [],
        summarize([], wall_time=3.0, client_cpu_s=3.0),
        0.0,
        3.0,
        client={'loop': 'uvloop', 'transport': 'aiohttp', 'processes': 3, 'ray': {'nodes': 1}},
        workers=[
            worker_entry(0),
            worker_entry(1, client_cpu_share=0.91),
            worker_entry(2, schedule_lag_p99_s=0.025),
        ],
    )
    table = format_table(result)
    assert '3 Ray workers on 1 node' in table
    assert re.search(
        r'^  1\s+10\.0\.0\.7 \(gpu-7\)\s+8\s+0\.10 s\s+91%\s+\+2\.0 ms ± 0\.4\s+ok$', table, re.M
    )
    warnings_ = [line for line in table.splitlines() if line.startswith('warning:')]
    assert len(warnings_) == 2, table
    assert 'worker 1 on 10.0.0.7 (gpu-7) kept 91% of its core busy' in warnings_[0]
    assert 'worker 2 on 10.0.0.7 (gpu-7) is saturated: its schedule lag p99 is 25.0 ms' in warnings_[1]


def test_without_the_extra_ray_exits_2_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an installation without Ray sees: `import ray` fails (and nothing imported it before).
    monkeypatch.setitem(sys.modules, 'ray', None)
    monkeypatch.delitem(sys.modules, 'modelkit.bench.ray', raising=False)
    status, err = run_cli('bench', '--ray', 'auto', '--workers', '2')
    assert status == 2
    assert "--ray needs Ray, which comes with the `ray` extra: pip install 'modelkit-wire[ray]'" in err


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--workers', '2'], '--workers applies to --ray'),
        (['--ray', 'auto'], '--ray needs --workers W'),
        (['--ray', 'auto', '--workers', '2', '--processes', '2'], 'give --ray (a cluster) or --processes'),
    ],
)
def test_ray_flags_that_do_not_go_together_are_usage_errors(args: list[str], message: str) -> None:
    status, err = run_cli('bench', *args)
    assert status == 2
    assert message in err


REPO = Path(__file__).resolve().parents[2]


def test_ray_is_imported_by_one_module_only_and_not_before_the_flag_asks() -> None:
    importers = []
    for path in sorted((REPO / 'modelkit').rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(name == 'ray' or name.startswith('ray.') for name in names):
                importers.append(path.relative_to(REPO).as_posix())
    assert sorted(set(importers)) == ['modelkit/bench/ray.py']
    # The bench command and its modules load without it until --ray is given.
    modules = 'modelkit.cli, modelkit.bench.processes, modelkit.bench.report, modelkit.bench.plan'
    probe = f'import sys, {modules}; print("ray" in sys.modules)'
    loaded = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == 'False'


def test_ci_installs_the_ray_extra_with_the_readme_test_command() -> None:
    # So the tests above run in CI (where a missing Ray fails them rather than skipping them).
    install = "-e '.[test,fast,ray]' -r tests/requirements-fidelity.txt"
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    assert f'pip install {install} && python -m pytest' in readme
    ci = (REPO / '.ci' / 'run').read_text(encoding='utf-8').splitlines()
    assert any(line.startswith('python -m pip install') and line.endswith(install) for line in ci)
    assert 'python -m pytest' in ci
