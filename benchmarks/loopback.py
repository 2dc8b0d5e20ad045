"""Benchmark 4: the client's CPU per 1,000 streamed tokens over real loopback sockets.

`modelkit bench` promises that the client is never the bottleneck; this is the figure behind that
promise. modelkit's emulator runs in a child process (so its CPU is not ours) on 127.0.0.1 and
streams every chat completion at a realistic pace: 50 ms to the first token, then 200 tokens a second.
Each contender sends the same batch of streamed requests, a fixed number in flight at once, and we
measure this process's CPU time (`time.process_time()`, all threads) and the wall time of the
batch. Real sockets mean the real per-chunk work: the event loop waking for each read, h11 parsing
the chunked body, the client library's byte iterators; the in-memory `e2e` benchmark has none of it.

The floor is the least any client can do over the same sockets: httpx `client.stream`, split on
blank lines, orjson, `choices[0].delta.content`. Every request of every run must deliver all its
content tokens, one delta each, spelling the floor's text, or the contender shows `error: ...`.

Each client runs on four stacks, each a case with its own floor on the same stack: httpx's own
transport and the `fast` extra's aiohttp transport under the same httpx client, each on asyncio
and on uvloop. The openai SDK runs on its own aiohttp option (`DefaultAioHttpClient`) on the
aiohttp stacks. A last line compares modelkit with the extra (aiohttp + uvloop) and without it
(httpx + asyncio).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from modelkit._loops import HTTP_TRANSPORT_ENV, fast_transport_installed
from modelkit.bench.processes import run_on_loop

from ._harness import RUN_TIMEOUT_S, Result, Unavailable, _prepare, print_table
from .end_to_end import Contender, floor_over, modelkit_over, openai_client, openai_sdk_over, pydantic_ai_over

__all__ = ('run',)

TARGET_RATIO = 1.15
"""modelkit's client CPU per token must stay within this factor of the floor's, on every stack."""

FAST_TARGET = 0.35
"""modelkit with the `fast` extra (aiohttp + uvloop) must spend at most this share of the CPU per
token of modelkit without it (httpx + asyncio)."""

STACKS = (('httpx', 'asyncio'), ('httpx', 'uvloop'), ('aiohttp', 'asyncio'), ('aiohttp', 'uvloop'))
"""(transport, event loop) pairs, the first the core install's and the last the extra's."""

TOKENS = 64
"""Content tokens per response, each its own SSE event."""
TOKENS_PER_SECOND = 200.0
TTFT_MS = 50.0
CONCURRENCY = 16
"""Requests in flight at once: 3,200 tokens a second in all, about a third of a core for the floor.
A client needing a whole core for it would fall behind and read several events at once, looking
cheaper per token than it is; its wall time, longer than the floor's, gives that away."""

REQUESTS = 96
"""Requests per timed run: six waves of `CONCURRENCY`, about 2.3 s of wall time and 6,144 tokens."""
QUICK_REQUESTS = 48
REPEATS = 7
"""Timed runs per contender: each is a whole batch, so fewer are needed than for the other benchmarks."""
QUICK_REPEATS = 5
"""Even a quick run needs five: one run in three on a shared machine lands on a burst of load, in
which the client falls behind and reads several events per wake-up (cheaper per token, for
whichever contender it hits); with three runs one such run moved a ratio by 0.1-0.2, over or
under the target by turns."""

LOOPBACK = '127.0.0.1'

Batch = Callable[[], Awaitable[list[list[str]]]]


@dataclass
class PairedResult(Result):
    """A contender whose ratio is the median of its runs' ratios to the floor's run of the same
    round, rather than the ratio of the two medians: each pair ran within seconds of each other,
    under the same load, so a burst that slows one round cancels out of its ratio."""

    floor: Result | None = field(default=None, repr=False, compare=False)

    @property
    def ratio(self) -> float | None:
        """Median of run / floor run over the rounds both measured; the medians' ratio otherwise."""
        floor = self.floor
        if floor is None or self.is_floor or not self.runs or len(floor.runs) != len(self.runs):
            return super().ratio
        return statistics.median(run / base for run, base in zip(self.runs, floor.runs, strict=True))

    def as_json(self) -> dict[str, Any]:
        """As `Result.as_json`, without the floor's copy (it has its own entry)."""
        data = super().as_json()
        data.pop('floor', None)
        return data


def _contenders(
    base_url: str, api_key: str, transport: str, loop: str, opened: list[Any]
) -> tuple[tuple[str, Callable[[], Contender], float | None], ...]:
    """The stack's contenders; clients they open go to `opened`, closed when the stack is done
    (aiohttp warns about a session left open, and its connections would outlive the loop)."""

    def floor() -> Contender:
        # The same pool limits as modelkit's shared client, so every connection is kept alive.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        if transport == 'aiohttp':
            from modelkit._aiohttp import AiohttpClient

            opened.append(AiohttpClient(limits=limits))
            return floor_over(opened[-1], base_url, api_key)
        return floor_over(httpx.AsyncClient(limits=limits), base_url, api_key)

    def openai_sdk() -> Contender:
        if transport == 'httpx':
            # No http_client: the SDK's default client over the HTTP library it ships with.
            return openai_sdk_over(openai_client(base_url, api_key))
        try:
            from openai import DefaultAioHttpClient
        except ImportError:
            raise Unavailable('needs openai[aiohttp] (DefaultAioHttpClient)') from None
        opened.append(DefaultAioHttpClient())
        return openai_sdk_over(openai_client(base_url, api_key, opened[-1]))

    floor_name = f'floor: httpx stream{" over aiohttp" if transport == "aiohttp" else ""} + split + orjson'
    rows: list[tuple[str, Callable[[], Contender], float | None]] = [
        (floor_name, floor, None),
        # No http_client: the provider's default, modelkit's shared pooled client (on the
        # stack's transport through MODELKIT_HTTP_TRANSPORT).
        ('modelkit OpenAIModel.request_stream', lambda: modelkit_over(base_url, api_key, None), TARGET_RATIO),
        ('openai SDK chat.completions.create', openai_sdk, None),
    ]
    if (transport, loop) == STACKS[0]:
        rows.append(
            (
                'pydantic-ai OpenAIChatModel.request_stream',
                lambda: pydantic_ai_over(lambda: openai_client(base_url, api_key)),
                None,
            )
        )
    return tuple(rows)


def _batch(contender: Contender, requests: int, concurrency: int) -> Batch:
    """`requests` streamed requests, `concurrency` at a time; each request's deltas in its own list."""

    async def run() -> list[list[str]]:
        outputs: list[list[str]] = [[] for _ in range(requests)]
        # One shared iterator: each worker takes the next request as soon as its last one ends.
        pending = iter(outputs)

        async def worker() -> None:
            for deltas in pending:
                await contender(deltas.append)

        with anyio.fail_after(RUN_TIMEOUT_S):
            async with anyio.create_task_group() as tg:
                for _ in range(min(concurrency, requests)):
                    tg.start_soon(worker)
        return outputs

    return run


def _problem(outputs: list[list[str]], expected: str | None) -> str | None:
    """Why these outputs are wrong (the first bad request), or None when every request is whole."""
    for index, deltas in enumerate(outputs):
        tokens = [d for d in deltas if d]
        text = ''.join(tokens)
        if len(tokens) != TOKENS:
            return f'request {index} got {len(tokens)} content deltas, expected {TOKENS}'
        if expected is not None and text != expected:
            return f'request {index} got different text ({len(text)} chars, expected {len(expected)})'
    return None


async def _measure(result: Result, batch: Batch, expected: str | None) -> list[list[str]] | None:
    """One batch with the CPU and wall clocks running, then checked (untimed).

    Returns the outputs, or None after setting `result.status` when the batch failed or was wrong.
    """
    _prepare()
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    try:
        outputs = await batch()
    except Exception as exc:  # a broken contender is reported, never fatal
        result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
        return None
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    problem = _problem(outputs, expected)
    if problem is not None:
        result.status = f'error: {problem}'
        return None
    result.runs.append(cpu)
    result.wall_runs.append(wall)
    return outputs


async def _run_async(
    base_url: str, api_key: str, requests: int, concurrency: int, repeats: int, peers: bool, stack: str
) -> list[Result]:
    """One stack's case, then close the clients its contenders opened."""
    opened: list[Any] = []
    try:
        return await _run_case(base_url, api_key, requests, concurrency, repeats, peers, stack, opened)
    finally:
        for client in opened:
            await client.aclose()


async def _run_case(
    base_url: str,
    api_key: str,
    requests: int,
    concurrency: int,
    repeats: int,
    peers: bool,
    stack: str,
    opened: list[Any],
) -> list[Result]:
    transport, loop = stack.split(' + ')
    case_name = f'{stack}: {requests} x {TOKENS} tokens, {concurrency} at once'
    expected: str | None = None
    case: list[tuple[PairedResult, Batch | None]] = []
    for index, (name, factory, target) in enumerate(_contenders(base_url, api_key, transport, loop, opened)):
        is_floor = index == 0
        if not peers and not is_floor and target is None:
            continue
        result = PairedResult(
            'loopback', case_name, name, units=requests * TOKENS, target=target, is_floor=is_floor
        )
        if case:
            result.floor = case[0][0]
        batch: Batch | None = None
        try:
            contender = factory()
        except Unavailable as exc:
            result.status = str(exc)
        except Exception as exc:
            result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
        else:
            # An untimed warm-up batch on the same client opens the pooled connections and fills
            # the caches; the floor's answer is the text every later request must spell.
            outputs = await _measure(result, _batch(contender, concurrency, concurrency), expected)
            result.runs.clear()
            result.wall_runs.clear()
            if outputs is not None:
                batch = _batch(contender, requests, concurrency)
                if is_floor:
                    expected = ''.join(outputs[0])
        case.append((result, batch))

    # Round-robin, so drift in a shared machine's speed hits every contender alike, and in the
    # reverse order every other round (floor, modelkit, modelkit, floor, ...), so going first
    # or right after another contender is no one's steady advantage.
    for round_ in range(repeats):
        for result, batch in case if round_ % 2 == 0 else case[::-1]:
            if batch is not None and not result.status:
                await _measure(result, batch, expected)
    for result, _ in case:
        if result.status:
            result.runs.clear()
            result.wall_runs.clear()
    return [result for result, _ in case]


@contextlib.contextmanager
def _no_proxy_for_loopback() -> Iterator[None]:
    # httpx and the SDK honour HTTP(S)_PROXY; a proxy elsewhere would take our loopback traffic
    # off the machine, so exempt the emulator's address for the length of the run.
    saved = {name: os.environ.get(name) for name in ('NO_PROXY', 'no_proxy')}
    for name, value in saved.items():
        os.environ[name] = f'{value},{LOOPBACK}' if value else LOOPBACK
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(requests: int, repeats: int, *, concurrency: int = CONCURRENCY, peers: bool = True) -> list[Result]:
    """Start the emulator in a child process, time every contender on asyncio, print the table.

    Without `peers`, only the floor and modelkit run. The child is stopped however the run ends;
    when it cannot start, the table says why and the other benchmarks go on.
    """
    with contextlib.ExitStack() as stack:
        try:
            from modelkit.bench.target import EmulatorProcess, EmulatorSettings

            settings = EmulatorSettings(tokens=TOKENS, tokens_per_second=TOKENS_PER_SECOND, ttft_ms=TTFT_MS)
            stack.enter_context(_no_proxy_for_loopback())
            emulator = stack.enter_context(EmulatorProcess(settings, host=LOOPBACK))
            host = urlsplit(emulator.base_url).hostname
            if host != LOOPBACK:
                raise RuntimeError(f'it listens on {host}, not {LOOPBACK}')
        except (ImportError, RuntimeError, OSError) as exc:
            status = f'error: emulator: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
            results = [Result('loopback', f'{requests} x {TOKENS} tokens', 'emulator', status=status)]
        else:
            results = []
            for transport, loop in STACKS:
                results.extend(
                    _run_stack(
                        emulator.base_url,
                        emulator.api_key,
                        requests,
                        concurrency,
                        repeats,
                        peers,
                        transport,
                        loop,
                    )
                )
    print_table(
        f'4. Client CPU over loopback sockets: {requests} streamed requests of {TOKENS} tokens '
        f'({TOKENS_PER_SECOND:g} tokens/s, {TTFT_MS:g} ms to the first), {concurrency} at once, emulator '
        f'in a child process; median client CPU of {repeats} round-robin runs '
        f'(target: modelkit <= {TARGET_RATIO:g}x floor)',
        results,
        unit='token',
        median_label='CPU ms',
        per_unit_label='CPU ms/1k tok',
    )
    print(_fast_line(results))
    return results + saturating_ttft(TTFT_RUNS)


TTFT_COMMAND = (
    'bench', '--emulator-tps', '0', '--emulator-ttft-ms', '0', '-c', '8', '-n', '500', '-q',
)  # fmt: skip
"""`modelkit bench` in a saturating run: the emulator (in its child process) at full speed with no
time to first token, 8 streams, 500 requests; the client on its defaults (uvloop and the aiohttp
transport with the `fast` extra)."""
TTFT_TARGET = 2.0
"""The bench's TTFT p99 must stay within this factor of its p50 in that run (issue 14)."""
TTFT_RUNS = 3
"""Each run is a whole `modelkit bench` process (about 5 s on two busy cores)."""
TTFT_RUN_TIMEOUT_S = 300.0


def saturating_ttft(runs: int) -> list[Result]:
    """Run `TTFT_COMMAND` `runs` times and print its TTFT p50 and p99 against `TTFT_TARGET`.

    The p50 is the row's floor and the ratio the median of each run's p99 / p50. After each run a
    bare aiohttp loop (`benchmarks.bare_ttft`: no modelkit, no bench) does the same against a fresh
    emulator, under the same load: its ratio, beside the bench's, is what the machine allows at that
    moment. The line below gives how long each client waited for a CPU in each run: where that is a
    large share, the machine's load is in every latency (see benchmarks/README.md, row 4b).
    """
    case = 'modelkit bench, 500 x 64 tokens unpaced, 8 at once'
    p50 = PairedResult('loopback-ttft', case, 'time to first token p50', is_floor=True)
    p99 = PairedResult('loopback-ttft', case, 'time to first token p99', target=TTFT_TARGET, floor=p50)
    bare_case = 'bare aiohttp loop, same run (reference)'
    bare50 = PairedResult('loopback-ttft', bare_case, 'time to first token p50', is_floor=True)
    bare99 = PairedResult('loopback-ttft', bare_case, 'time to first token p99', floor=bare50)
    waits: list[str] = []
    bare_waits: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'bench.json'
        for _ in range(runs):
            try:
                done = subprocess.run(
                    [sys.executable, '-m', 'modelkit', *TTFT_COMMAND, '--json', str(out)],
                    capture_output=True,
                    text=True,
                    timeout=TTFT_RUN_TIMEOUT_S,
                )
                if done.returncode != 0:
                    raise RuntimeError(f'exit {done.returncode}: {done.stderr.strip()[-160:]}')
                summary = json.loads(out.read_text(encoding='utf-8'))['summary']
            except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                p50.status = p99.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
                break
            p50.runs.append(summary['ttft_s']['p50'])
            p99.runs.append(summary['ttft_s']['p99'])
            share = summary.get('client_cpu_wait_share')
            waits.append(f'{share:.0%}' if isinstance(share, float) else '-')
            if not bare50.status:
                bare_waits.append(_bare_run(bare50, bare99))
    for low, high in ((p50, p99), (bare50, bare99)):
        if low.status:
            low.runs.clear()
            high.runs.clear()
    results = [p50, p99, bare50, bare99]
    print_table(
        f'4b. modelkit {" ".join(TTFT_COMMAND)}: TTFT p99 over p50, median of {runs} runs '
        f'(target: <= {TTFT_TARGET:g}x)',
        results,
        unit=None,
    )
    if waits:
        print(
            f'client waiting for a CPU, share of each run: {", ".join(waits)}; bare loop: '
            f'{", ".join(bare_waits) or "-"} (quiet machine: well under 20%)'
        )
    return results


def _bare_run(p50: Result, p99: Result) -> str:
    """One `benchmarks.bare_ttft` run into `p50` and `p99` (or their status); its CPU-wait share."""
    if importlib.util.find_spec('aiohttp') is None or importlib.util.find_spec('uvloop') is None:
        p50.status = p99.status = 'needs the fast extra (aiohttp, uvloop)'
        return '-'
    try:
        done = subprocess.run(
            [sys.executable, '-m', 'benchmarks.bare_ttft'],
            cwd=Path(__file__).resolve().parent.parent,  # where `benchmarks` imports from
            capture_output=True,
            text=True,
            timeout=TTFT_RUN_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f'exit {done.returncode}: {done.stderr.strip()[-160:]}')
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, RuntimeError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
        p50.status = p99.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
        return '-'
    p50.runs.append(figures['p50_s'])
    p99.runs.append(figures['p99_s'])
    share = figures.get('cpu_wait_share')
    return f'{share:.0%}' if isinstance(share, float) else '-'


def _run_stack(
    base_url: str,
    api_key: str,
    requests: int,
    concurrency: int,
    repeats: int,
    peers: bool,
    transport: str,
    loop: str,
) -> list[Result]:
    """One stack's case, on its own event loop (so modelkit's shared client is made for it)."""
    stack = f'{transport} + {loop}'
    missing = (transport == 'aiohttp' and not fast_transport_installed()) or (
        loop == 'uvloop' and importlib.util.find_spec('uvloop') is None
    )
    if missing:
        return [
            Result('loopback', stack, 'every contender', status="not installed: pip install -e '.[fast]'")
        ]
    saved = os.environ.get(HTTP_TRANSPORT_ENV)
    os.environ[HTTP_TRANSPORT_ENV] = transport
    try:
        return run_on_loop(
            lambda: _run_async(base_url, api_key, requests, concurrency, repeats, peers, stack), loop
        )
    finally:
        if saved is None:
            os.environ.pop(HTTP_TRANSPORT_ENV, None)
        else:
            os.environ[HTTP_TRANSPORT_ENV] = saved


def _fast_line(results: list[Result]) -> str:
    """modelkit's CPU per token with the extra over without it, against `FAST_TARGET`."""

    def modelkit_median(stack: tuple[str, str]) -> float | None:
        prefix = f'{stack[0]} + {stack[1]}:'
        for r in results:
            if r.case.startswith(prefix) and r.contender.startswith('modelkit') and not r.status:
                return r.median
        return None

    without, with_extra = modelkit_median(STACKS[0]), modelkit_median(STACKS[-1])
    if not without or with_extra is None:
        return 'modelkit with the fast extra vs without: not measured (install the fast extra)'
    ratio = with_extra / without
    verdict = 'ok' if ratio <= FAST_TARGET else 'OVER TARGET'
    return (
        f'modelkit with the fast extra (aiohttp + uvloop) / without (httpx + asyncio): {ratio:.2f}x the CPU '
        f'per token (target <= {FAST_TARGET:g}x): {verdict}'
    )
