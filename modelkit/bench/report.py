"""The bench's outputs: the table printed at the end of a run, and the JSON file of raw figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .harness import BenchResult, BenchSummary
from .stats import Distribution

__all__ = (
    'CPU_BUSY_MIN_WALL_S',
    'CPU_BUSY_WARNING_SHARE',
    'CPU_WAIT_WARNING_SHARE',
    'SCHEDULE_LAG_WARNING_S',
    'format_duration',
    'format_table',
    'warnings',
    'worker_lines',
    'write_json',
)

CPU_BUSY_WARNING_SHARE = 0.8
"""Above this share of one core the client itself may be what limits the figures; say so."""
CPU_BUSY_MIN_WALL_S = 2.0
"""The busy-core warning needs a measured phase at least this long: in a shorter one the
process's first-use work (imports, pools, caches warming past the warmup) and the coarse
granularity of CPU clocks weigh enough to push a short burst over the share by themselves."""


SCHEDULE_LAG_WARNING_S = 0.010
"""Above this p99 schedule lag the client started requests late enough to distort what it measures
(10 ms is a good share of a fast model's time to first token): say the client is saturated."""

CPU_WAIT_WARNING_SHARE = 0.2
"""Above this share of the measured time spent waiting for a CPU, the client was queued behind
other processes often enough that its latencies measure the machine's load (a client with a core
to itself waits well under 1%): say so. In a saturating run on two shared cores it was 60-75%."""


def _describe_client(client: dict[str, object]) -> str:
    loop, transport = client.get('loop', '?'), client.get('transport', '?')
    processes = client.get('processes', 1)
    many = f', {processes} processes' if isinstance(processes, int) and processes > 1 else ''
    ray = client.get('ray')
    if isinstance(ray, dict):
        nodes = ray.get('nodes')
        many = f', {processes} Ray workers on {nodes} node{"" if nodes == 1 else "s"}'
    return f'client: {loop} event loop, {transport} transport{many}'


def format_duration(seconds: float) -> str:
    """A latency for the table: `12.3 ms`, or `850 µs` below a millisecond, where ms would read 0.8."""
    if abs(seconds) < 1e-3:
        return f'{seconds * 1e6:,.0f} µs'
    return f'{seconds * 1000:,.1f} ms'


_ms = format_duration


def _rate(value: float) -> str:
    return f'{value:,.1f}'


def _row(label: str, d: Distribution | None, fmt: str) -> list[str]:
    render = _ms if fmt == 'ms' else _rate
    if d is None:
        return [label, '-', '-', '-', '-', '-']
    return [label, render(d.mean), render(d.p50), render(d.p90), render(d.p99), f'{d.count:,}']


def _describe_target(target: dict[str, object]) -> str:
    if target.get('kind') == 'server':
        requested = target.get('requested')
        asked = ''
        if isinstance(requested, dict):
            tps, ttft_ms = requested.get('tokens_per_second'), requested.get('ttft_ms')
            pace = f'at {tps:g} tokens/s' if isinstance(tps, int | float) and tps > 0 else 'unpaced'
            asked = (
                f' (asked by x-emulator-* headers for {requested.get("tokens")} tokens {pace}, '
                f'{ttft_ms:g} ms to first token)'
            )
        return f'the server at {target.get("base_url")}{asked}'
    if target.get('kind') == 'emulator':
        which = 'embedded emulator' if target.get('embedded') else 'emulator'
        tps = target.get('tokens_per_second')
        pace = f'at {tps:g} tokens/s' if isinstance(tps, int | float) and tps > 0 else 'unpaced'
        return (
            f'{which} ({target.get("tokens")} tokens {pace}, {target.get("ttft_ms"):g} ms to first token) '
            f'at {target.get("base_url")}'
        )
    model = target.get('model', '?')
    base_url = target.get('base_url')
    return f'{model} at {base_url}' if base_url else str(model)


def format_table(result: BenchResult) -> str:
    """The human-readable report of a run."""
    s: BenchSummary = result.summary
    config = result.config.as_dict()
    mode = (
        f'open loop, Poisson arrivals at {config["rate_per_s"]:g} requests/s'
        if config['rate_per_s'] is not None
        else f'closed loop, concurrency {config["concurrency"]}'
    )
    if config['rate_per_s'] is not None and config['concurrency'] is not None:
        mode += f' (at most {config["concurrency"]} in flight)'
    lines = [
        f'modelkit bench: {_describe_target(result.target)}',
        *(
            [
                f'incomplete: a {"worker" if _per_worker(result) else "process"} died; the figures '
                'cover the requests the others completed'
            ]
            if result.status != 'complete'
            else []
        ),
        *(
            ['interrupted: the figures cover the requests that finished before Ctrl-C']
            if result.interrupted
            else []
        ),
        f'{s.requests:,} requests ({mode}; {config["warmup"]} warmup excluded), '
        f'{s.succeeded:,} ok, {s.failed:,} failed, in {s.wall_time:.2f} s',
        *([_describe_client(result.client)] if result.client else []),
        '',
    ]
    rows = [
        ['', 'mean', 'p50', 'p90', 'p99', 'n'],
        _row('time to first token', s.ttft, 'ms'),
        _row('inter-token latency', s.itl, 'ms'),
        _row('end-to-end latency', s.e2e, 'ms'),
        _row('tokens/s per stream', s.stream_tokens_per_s, 'rate'),
        _row('schedule lag', s.schedule_lag, 'ms'),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append('  '.join(cells).rstrip())
    lines.append('')
    lines.append(
        f'throughput   {s.tokens_per_s:,.1f} output tokens/s, {s.requests_per_s:,.2f} requests/s '
        f'({s.output_tokens:,} tokens)'
    )
    per_1k = s.client_cpu_ms_per_1k_tokens
    share = s.client_cpu_share
    if per_1k is not None and share is not None:
        wait = s.client_cpu_wait_share
        waited = f', waited for a CPU {wait / _cores(result):.0%} of the time' if wait is not None else ''
        lines.append(
            f'client CPU   {per_1k:,.1f} ms per 1,000 tokens ({share:.0%} of one core, '
            f'{s.client_cpu_s:.2f} s in total{waited})'
        )
    lines.extend(f'warning: {w["message"]}' for w in warnings(result))
    lines.extend(worker_lines(result))
    if s.errors:
        lines.append('')
        lines.append('errors:')
        for kind, n in s.errors.items():
            sample = s.error_samples.get(kind, '')
            lines.append(f'  {n:,} x {kind}: {sample}' if sample else f'  {n:,} x {kind}')
    return '\n'.join(lines) + '\n'


def _cores(result: BenchResult) -> int:
    if _per_worker(result):  # a Ray run: one core per worker, summed like --processes
        return max(len(result.workers), 1)
    processes = result.client.get('processes', 1)
    return processes if isinstance(processes, int) and processes > 0 else 1


def warnings(result: BenchResult) -> list[dict[str, Any]]:
    """Why the figures may describe the client more than the server: each warning's `kind`, the
    figure that raised it (`value`, against `limit`) and the `message` the table prints.

    Kinds: `client_cpu_busy` (the client kept its core busy), `client_saturated` (requests
    started late: schedule lag p99), `client_cpu_starved` (the client waited for a CPU behind
    other processes, Linux only). The JSON report carries them as `warnings`.
    """
    s: BenchSummary = result.summary
    cores = _cores(result)
    found: list[dict[str, Any]] = []
    per_worker = _per_worker(result)  # then each worker's own warnings name the one at fault
    share = s.client_cpu_share
    long_enough = s.wall_time >= CPU_BUSY_MIN_WALL_S
    if not per_worker and share is not None and share / cores >= CPU_BUSY_WARNING_SHARE and long_enough:
        found.append(
            {
                'kind': 'client_cpu_busy',
                'value': share / cores,
                'limit': CPU_BUSY_WARNING_SHARE,
                'message': 'the client kept one core nearly busy, so these figures may be limited by the '
                'client itself; lower --concurrency or run several processes',
            }
        )
    lag = s.schedule_lag
    if not per_worker and lag is not None and lag.p99 > SCHEDULE_LAG_WARNING_S:
        found.append(
            {
                'kind': 'client_saturated',
                'value': lag.p99,
                'limit': SCHEDULE_LAG_WARNING_S,
                'message': f'the client is saturated: 1 request in 100 started {_ms(lag.p99)} or more '
                'behind its schedule (schedule lag p99), so latencies are understated; lower the load '
                'or add --processes',
            }
        )
    wait = s.client_cpu_wait_share
    if wait is not None and wait / cores > CPU_WAIT_WARNING_SHARE and s.wall_time >= CPU_BUSY_MIN_WALL_S:
        found.append(
            {
                'kind': 'client_cpu_starved',
                'value': wait / cores,
                'limit': CPU_WAIT_WARNING_SHARE,
                'message': f'the client was ready to run but waiting for a CPU {wait / cores:.0%} of the '
                'time (other processes on these cores), and every latency includes those waits; '
                'measure on a machine with a core to spare for the client and one for the server',
            }
        )
    return found


def _per_worker(result: BenchResult) -> bool:
    # Ray's workers carry their own figures (node, CPU share, clock offset); --processes' do not.
    return any('clock_offset_s' in w for w in result.workers)


def worker_lines(result: BenchResult) -> list[str]:
    """The block per worker of a Ray run (node, requests, client CPU, clock offset, status), and
    a warning for each worker above 0.8 of a core or with a schedule-lag p99 above 10 ms."""
    if not _per_worker(result):
        return []
    rows = [['worker', 'node', 'requests', 'client CPU', 'of a core', 'clock offset', 'status']]
    warnings: list[str] = []
    for w in result.workers:
        node = w.get('node') or {}
        where = f'{node.get("ip")} ({node.get("hostname")})'
        cpu, share = w.get('client_cpu_s'), w.get('client_cpu_share')
        offset, error = w.get('clock_offset_s'), w.get('clock_offset_error_s')
        rows.append(
            [
                str(w.get('worker')),
                where,
                f'{w.get("requests", 0):,}',
                f'{cpu:.2f} s' if isinstance(cpu, int | float) else '-',
                f'{share:.0%}' if isinstance(share, int | float) else '-',
                f'{offset * 1000:+.1f} ms ± {error * 1000:.1f}'
                if isinstance(offset, int | float) and isinstance(error, int | float)
                else '-',
                str(w.get('status')),
            ]
        )
        long_enough = result.summary.wall_time >= CPU_BUSY_MIN_WALL_S
        if isinstance(share, int | float) and share >= CPU_BUSY_WARNING_SHARE and long_enough:
            warnings.append(
                f'warning: worker {w.get("worker")} on {where} kept {share:.0%} of its core busy, so the '
                'figures may be limited by that client; add --workers or lower the load'
            )
        lag = w.get('schedule_lag_p99_s')
        if isinstance(lag, int | float) and lag > SCHEDULE_LAG_WARNING_S:
            warnings.append(
                f'warning: worker {w.get("worker")} on {where} is saturated: its schedule lag p99 is '
                f'{_ms(lag)}, so latencies are understated; add --workers or lower the load'
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ['', 'Ray workers:']
    for row in rows:
        lines.append('  ' + '  '.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines + warnings


def write_json(result: BenchResult, path: str | Path) -> None:
    """Write the configuration, the summary, the warnings and every request record as JSON
    (times in seconds)."""
    data = result.as_dict()
    data['warnings'] = warnings(result)
    Path(path).write_text(json.dumps(data, indent=1, allow_nan=False) + '\n', encoding='utf-8')
