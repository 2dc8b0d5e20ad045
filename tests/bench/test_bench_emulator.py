"""The bench measures what the emulator was told to do: end to end over loopback sockets."""

from __future__ import annotations

import pytest

from modelkit._transport import aclose_shared_http_client
from modelkit.bench import BenchConfig, BenchResult, run_bench
from modelkit.bench.target import EmulatorProcess, EmulatorSettings, emulator_model
from modelkit.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.anyio

TTFT_S = 0.1
TTFT_MARGIN_S = 0.4
"""Generous: a loaded CI machine may be slow to schedule, but never early."""


async def bench(base_url: str, api_key: str, config: BenchConfig) -> BenchResult:
    try:
        return await run_bench(emulator_model(base_url, api_key), config)
    finally:
        await aclose_shared_http_client()


async def test_measured_ttft_and_tokens_match_what_the_emulator_was_told() -> None:
    async with Emulator(EmulatorConfig(tokens=20, ttft=TTFT_S, tokens_per_second=1000)) as emu:
        config = BenchConfig(requests=8, concurrency=4, warmup=2)
        result = await bench(emu.base_url('openai'), emu.api_key, config)
    s = result.summary
    assert (s.requests, s.succeeded, s.errors) == (8, 8, {})
    assert s.ttft is not None
    assert TTFT_S <= s.ttft.p50 <= TTFT_S + TTFT_MARGIN_S
    assert s.ttft.min >= TTFT_S
    measured = [r for r in result.records if not r.warmup]
    assert [r.output_tokens for r in measured] == [20] * 8
    assert all(r.tokens_from_usage for r in measured)
    assert all(len(r.itl) == r.events - 1 for r in measured)
    assert s.output_tokens == 160


async def test_per_request_headers_override_the_emulator_defaults() -> None:
    # How `modelkit bench --base-url` steers an emulator someone else started.
    headers = {'x-emulator-tokens': '5', 'x-emulator-ttft-ms': '0', 'x-emulator-tps': '0'}
    async with Emulator(EmulatorConfig(tokens=50, ttft=1.0)) as emu:
        config = BenchConfig(requests=4, warmup=0, extra_headers=headers)
        result = await bench(emu.base_url('openai'), emu.api_key, config)
    assert [r.output_tokens for r in result.records] == [5] * 4
    assert result.summary.ttft is not None
    assert result.summary.ttft.max < 1.0


async def test_a_bad_key_is_counted_as_401_errors() -> None:
    async with Emulator() as emu:
        result = await bench(emu.base_url('openai'), 'wrong-key', BenchConfig(requests=3, warmup=0))
    assert result.summary.errors == {'ModelHTTPError 401': 3}
    assert result.summary.succeeded == 0


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
async def test_the_emulator_process_serves_and_stops() -> None:
    with EmulatorProcess(EmulatorSettings(tokens=6, tokens_per_second=0, ttft_ms=0)) as emulator:
        result = await bench(emulator.base_url, emulator.api_key, BenchConfig(requests=2, warmup=0))
        proc = emulator._proc
        assert proc is not None
        assert proc.poll() is None
    assert proc.poll() is not None
    assert [r.output_tokens for r in result.records] == [6, 6]
