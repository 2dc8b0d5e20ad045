"""The harness on an in-process `FunctionModel`: what it records, counts, excludes and reports."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from modelkit.bench import BenchConfig, BenchError, Progress, run_bench
from modelkit.bench.plot import render_svg, write_svg
from modelkit.bench.report import format_table, write_json
from modelkit.exceptions import ModelHTTPError, StreamInterrupted, UserError
from modelkit.models.function import AgentInfo, FunctionModel

pytestmark = pytest.mark.anyio


def word_stream(tokens: int, *, pause: float = 0.0) -> FunctionModel:
    """A model streaming `tokens` one-word deltas per request."""

    async def stream(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
        for i in range(tokens):
            if pause:
                await anyio.sleep(pause)
            yield f'w{i} '

    return FunctionModel(stream_function=stream)


async def test_records_every_token_and_leaves_warmup_out() -> None:
    result = await run_bench(word_stream(12), BenchConfig(requests=10, concurrency=3, warmup=4))
    warmup = [r for r in result.records if r.warmup]
    measured = [r for r in result.records if not r.warmup]
    assert (len(warmup), len(measured)) == (4, 10)
    assert sorted(r.index for r in measured) == list(range(10))
    for r in measured:
        assert r.ok
        assert r.events == 12
        assert r.output_tokens == 12
        assert r.tokens_from_usage
        assert len(r.itl) == 11
        assert r.ttft is not None
        assert r.e2e is not None
        assert 0 <= r.ttft <= r.e2e
        assert result.measured_start <= r.sent_at <= result.measured_end
    s = result.summary
    assert (s.requests, s.succeeded, s.failed, s.errors) == (10, 10, 0, {})
    assert s.output_tokens == 120
    assert s.itl is not None
    assert s.itl.count == 110
    assert s.ttft is not None
    assert s.ttft.count == 10
    assert s.tokens_per_s > 0
    assert s.requests_per_s > 0
    assert s.client_cpu_ms_per_1k_tokens is not None


async def test_errors_are_counted_by_kind_and_the_run_goes_on() -> None:
    calls = 0

    async def flaky(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            raise ModelHTTPError(429, 'flaky', b'{"error": "slow down"}', vendor='openai')
        if calls % 5 == 0:
            yield 'half '
            raise StreamInterrupted('the connection dropped')
        yield 'fine '

    result = await run_bench(FunctionModel(stream_function=flaky), BenchConfig(requests=30, warmup=0))
    s = result.summary
    assert s.requests == 30
    assert s.errors == {'ModelHTTPError 429': 10, 'StreamInterrupted': 4}
    assert s.succeeded == 16
    assert 'slow down' in s.error_samples['ModelHTTPError 429']
    table = format_table(result)
    assert '10 x ModelHTTPError 429' in table
    assert '4 x StreamInterrupted: the connection dropped' in table


async def test_a_user_error_stops_the_run_with_that_error() -> None:
    async def misuse(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
        raise UserError('set OPENAI_API_KEY')
        yield ''  # pragma: no cover

    with pytest.raises(UserError, match='OPENAI_API_KEY'):
        await run_bench(FunctionModel(stream_function=misuse), BenchConfig(requests=5))


async def test_a_target_that_fails_every_warmup_request_is_not_measured() -> None:
    async def down(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
        raise ModelHTTPError(503, 'down', b'maintenance')
        yield ''  # pragma: no cover

    with pytest.raises(BenchError, match=r'every warmup request failed.*ModelHTTPError 503.*maintenance'):
        await run_bench(FunctionModel(stream_function=down), BenchConfig(requests=5, warmup=2))


async def test_open_loop_sends_the_asked_number_on_a_poisson_schedule() -> None:
    config = BenchConfig(requests=15, rate=2000.0, warmup=1, seed=3)
    result = await run_bench(word_stream(3), config)
    measured = [r for r in result.records if not r.warmup]
    assert len(measured) == 15
    scheduled = sorted(r.scheduled_at for r in measured)
    assert len(set(scheduled)) == 15
    assert all(r.sent_at >= r.scheduled_at for r in measured)
    assert result.as_dict()['config']['mode'] == 'open loop (Poisson)'


async def test_duration_bounds_a_closed_loop() -> None:
    config = BenchConfig(duration=0.3, concurrency=2, warmup=0)
    result = await run_bench(word_stream(5, pause=0.01), config)
    measured = [r for r in result.records if not r.warmup]
    assert measured
    assert all(r.sent_at <= result.measured_start + 0.3 for r in measured)


async def test_progress_lines_go_to_the_given_stream() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress_interval = progress.interval
    assert not progress.is_tty
    assert progress_interval > 1
    await run_bench(word_stream(2), BenchConfig(requests=2, warmup=0), progress=progress)
    progress.update('bench: 2/2 requests done')
    assert out.getvalue().endswith('bench: 2/2 requests done\n')


async def test_json_and_svg_outputs(tmp_path: Path) -> None:
    result = await run_bench(
        word_stream(8), BenchConfig(requests=6, warmup=1), target={'kind': 'model', 'model': 'fn'}
    )
    write_json(result, tmp_path / 'run.json')
    data = json.loads((tmp_path / 'run.json').read_text())
    assert data['summary']['succeeded'] == 6
    assert data['summary']['output_tokens'] == 48
    assert len(data['requests']) == 7
    assert sum(1 for r in data['requests'] if r['warmup']) == 1
    assert all(len(r['itl_s']) == 7 for r in data['requests'])
    assert data['config']['warmup'] == 1
    assert data['target']['model'] == 'fn'

    write_svg(result, tmp_path / 'run.svg')
    root = ET.fromstring((tmp_path / 'run.svg').read_text())
    assert root.tag == '{http://www.w3.org/2000/svg}svg'
    texts = [''.join(t.itertext()) for t in root.iter('{http://www.w3.org/2000/svg}text')]
    for title in ('time to first token', 'inter-token latency', 'end-to-end latency'):
        assert title in texts
    assert any(t.startswith('p50 ') and ' p99 ' in t for t in texts)
    assert root.find('{http://www.w3.org/2000/svg}polyline') is not None
    assert render_svg(result) == (tmp_path / 'run.svg').read_text()
