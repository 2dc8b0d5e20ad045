"""Row 4b's reference: the saturating TTFT run with no modelkit client and no bench around it.

`python -m benchmarks.bare_ttft` starts the bench's emulator the way `modelkit bench` does (a child
process, full speed, no time to first token), then runs a bare aiohttp closed loop on uvloop with
the bench's settings: 8 workers, 8 warmup requests, 500 measured, the collector's full passes kept
out of the measured phase. Each request's TTFT is from just before it is sent to the read that
brings its first content delta, the same span the bench reports. It prints one JSON line:
`{"p50_s": ..., "p99_s": ..., "cpu_wait_share": ...}`.

What the machine allows (two processes queueing for two cores) is in this run too, so its p99 / p50
is how far apart the two can be on this machine at this moment whatever the client does.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time

from modelkit.bench.harness import cpu_wait
from modelkit.bench.stats import percentile
from modelkit.bench.target import EmulatorProcess, EmulatorSettings

CONCURRENCY = 8
WARMUP = 8
REQUESTS = 500
TOKENS = 64

_CONTENT = b'"content":"'
"""What the first chunk carrying text holds (the emulator's OpenAI deltas; the role-only delta
before it, if sent alone, has an empty content and does not count, as in the bench)."""


async def _closed_loop(base_url: str, api_key: str) -> tuple[list[float], float | None]:
    """The measured requests' TTFTs, and the share of the measured phase spent waiting for a CPU."""
    import aiohttp

    body = json.dumps(
        {
            'model': 'emulator',
            'stream': True,
            'max_tokens': TOKENS,
            'messages': [{'role': 'user', 'content': 'Tell me a long story about a lighthouse keeper.'}],
        }
    ).encode()
    headers = {'authorization': f'Bearer {api_key}', 'content-type': 'application/json'}
    url = base_url + '/chat/completions'
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> float:
            sent = time.perf_counter()
            first: float | None = None
            async with session.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_any():
                    if first is None and _CONTENT in chunk:
                        first = time.perf_counter()
            if first is None:
                raise RuntimeError('a stream ended with no content')
            return first - sent

        async def phase(count: int) -> list[float]:
            indices = iter(range(count))
            ttfts: list[float] = []

            async def worker() -> None:
                for _ in indices:
                    ttfts.append(await one())

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return ttfts

        await phase(WARMUP)  # opens the connections, as the bench's warmup does
        gc.freeze()
        wait_before = cpu_wait()
        started = time.perf_counter()
        ttfts = await phase(REQUESTS)
        wall = time.perf_counter() - started
        wait_after = cpu_wait()
    share = None
    if wait_before is not None and wait_after is not None and wall > 0:
        share = (wait_after - wait_before) / wall
    return ttfts, share


def main() -> None:
    """Run once and print the JSON line."""
    import uvloop

    settings = EmulatorSettings(tokens=TOKENS, tokens_per_second=0.0, ttft_ms=0.0)
    with EmulatorProcess(settings) as emulator:
        ttfts, share = uvloop.run(_closed_loop(emulator.base_url, emulator.api_key))
    result = {'p50_s': percentile(ttfts, 50), 'p99_s': percentile(ttfts, 99), 'cpu_wait_share': share}
    sys.stdout.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
