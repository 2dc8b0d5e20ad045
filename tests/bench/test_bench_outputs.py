"""The bench's stop, progress ETA, units, CPU warning and plot choices, through the public API."""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from modelkit.bench import BenchConfig, BenchResult, Progress, RequestRecord, run_bench, summarize
from modelkit.bench.plot import TIMELINE_BUCKETS, render_svg, timeline_window
from modelkit.bench.report import CPU_BUSY_MIN_WALL_S, format_duration, format_table
from modelkit.models.function import AgentInfo, FunctionModel

pytestmark = pytest.mark.anyio


def paced_stream(tokens: int, pause: float) -> FunctionModel:
    async def stream(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
        for i in range(tokens):
            await anyio.sleep(pause)
            yield f'w{i} '

    return FunctionModel(stream_function=stream)


class TtyBuffer(io.StringIO):
    """A stream that says it is a terminal, so progress refreshes every 0.1 s."""

    def isatty(self) -> bool:
        return True


async def test_stop_ends_the_run_with_what_finished() -> None:
    stop = anyio.Event()
    result_box: list[BenchResult] = []

    async def run() -> None:
        config = BenchConfig(requests=1000, concurrency=2, warmup=0)
        result_box.append(await run_bench(paced_stream(5, 0.02), config, stop=stop))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await anyio.sleep(0.6)
            stop.set()
    (result,) = result_box
    assert result.interrupted
    s = result.summary
    assert 0 < s.requests < 1000
    assert s.failed == 0  # the requests cut off in flight are left out, not counted as errors
    assert all(r.ok and r.events == 5 for r in result.records)
    assert result.as_dict()['interrupted'] is True
    assert 'interrupted' in format_table(result).splitlines()[1]


async def test_progress_shows_an_eta() -> None:
    out = TtyBuffer()
    await run_bench(
        paced_stream(4, 0.02), BenchConfig(requests=12, concurrency=1, warmup=0), progress=Progress(out)
    )
    lines = [chunk for chunk in out.getvalue().split('\r\x1b[K') if 'requests done' in chunk]
    assert lines
    assert any(', ETA ' in line and line.rstrip().endswith(' s') for line in lines), lines


async def test_progress_of_a_timed_run_counts_down_to_its_deadline() -> None:
    out = TtyBuffer()
    await run_bench(paced_stream(2, 0.01), BenchConfig(duration=0.5, warmup=0), progress=Progress(out))
    etas = [
        float(chunk.split(', ETA ')[1].split()[0])
        for chunk in out.getvalue().split('\r\x1b[K')
        if 'ETA' in chunk
    ]
    assert etas
    assert all(eta <= 0.5 for eta in etas)


def test_sub_millisecond_latencies_print_in_microseconds() -> None:
    assert format_duration(0.000420) == '420 µs'
    assert format_duration(0.0123) == '12.3 ms'
    assert format_duration(1.5) == '1,500.0 ms'


def record(index: int, *, sent: float, ttft: float, gaps: list[float]) -> RequestRecord:
    r = RequestRecord(index, False, sent, sent, ttft=ttft, e2e=ttft + sum(gaps))
    r.events = len(gaps) + 1
    r.output_tokens = r.events
    r.first_event_at = sent + ttft
    r.last_event_at = r.first_event_at + sum(gaps)
    r.itl = list(gaps)
    return r


def result_of(records: list[RequestRecord], *, wall: float, cpu: float) -> BenchResult:
    summary = summarize(records, wall_time=wall, client_cpu_s=cpu)
    return BenchResult(BenchConfig(), {'kind': 'model', 'model': 'fn'}, records, summary, 0.0, wall)


def test_table_uses_microseconds_where_milliseconds_would_read_zero() -> None:
    recs = [record(i, sent=i * 0.01, ttft=0.0005, gaps=[0.0002] * 9) for i in range(10)]
    table = format_table(result_of(recs, wall=0.2, cpu=0.01))
    itl = next(line for line in table.splitlines() if line.startswith('inter-token latency'))
    assert '200 µs' in itl
    assert ' ms' not in itl


def test_busy_core_warning_needs_a_long_enough_run() -> None:
    recs = [record(i, sent=i * 0.01, ttft=0.01, gaps=[0.001] * 9) for i in range(10)]
    short = format_table(result_of(recs, wall=CPU_BUSY_MIN_WALL_S / 4, cpu=CPU_BUSY_MIN_WALL_S / 4))
    assert 'warning' not in short  # 100% of a core, but over too short a run to mean it
    long = format_table(result_of(recs, wall=CPU_BUSY_MIN_WALL_S, cpu=CPU_BUSY_MIN_WALL_S * 0.95))
    assert 'warning: the client kept one core nearly busy' in long


def test_timeline_windows_span_whole_request_cycles() -> None:
    # A closed loop of 0.37 s requests over 30 s: span/60 = 0.5 s would catch one or two cycles
    # by turns and draw a sawtooth; the window is a whole number of cycles instead.
    cycle = 0.37
    recs = [record(i, sent=i * cycle, ttft=0.05, gaps=[0.02] * 16) for i in range(81)]
    result = result_of(recs, wall=30.0, cpu=1.0)
    window = timeline_window(result)
    median_e2e = sorted(r.e2e for r in recs if r.e2e)[40]
    assert window >= 30.0 / TIMELINE_BUCKETS
    assert math.isclose(window / median_e2e, round(window / median_e2e), abs_tol=1e-9)


def test_inter_token_panel_goes_logarithmic_when_the_bulk_is_squeezed() -> None:
    # Most gaps 0.2 ms (read in one chunk), a tail up to 40 ms: on a linear axis the bulk is one bar.
    squeezed = [
        record(i, sent=i * 0.1, ttft=0.01, gaps=[0.0002] * 40 + [0.01, 0.02, 0.04]) for i in range(20)
    ]
    svg = render_svg(result_of(squeezed, wall=3.0, cpu=0.1))
    assert 'milliseconds (log scale)' in svg
    # Gaps spread evenly around a steady pace: the linear axis shows them well.
    even = [
        record(i, sent=i * 0.1, ttft=0.01, gaps=[0.004 + 0.0001 * (k % 20) for k in range(40)])
        for i in range(20)
    ]
    svg = render_svg(result_of(even, wall=3.0, cpu=0.1))
    assert 'log scale' not in svg
