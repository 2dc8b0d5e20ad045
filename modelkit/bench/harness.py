"""The stream-throughput harness: send streamed requests, time every token, summarise.

Two arrival models: a closed loop (`concurrency` workers, each sending its next request when the
last one finishes) and an open loop (`rate` requests per second with Poisson arrivals, which is
how independent users arrive). Warmup requests run first, as their own phase, so connection
set-up and first-use caches stay out of the figures and out of the measured wall time.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .plan import ArrivalFilter
from .stats import Distribution, describe, poisson_gaps, stream_rate

if TYPE_CHECKING:
    import anyio
    from anyio import CancelScope

    from ..models import Model

__all__ = (
    'BenchConfig',
    'BenchError',
    'BenchResult',
    'BenchSummary',
    'Progress',
    'RequestRecord',
    'run_bench',
    'summarize',
)

DEFAULT_REQUESTS = 64
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_TOKENS = 64
DEFAULT_PROMPT = 'Tell me a long story about a lighthouse keeper and the ships she guided home.'

ERROR_SAMPLE_CHARS = 200
"""How much of the first error of each kind the summary keeps, to show what went wrong."""

TTY_PROGRESS_INTERVAL_S = 0.1
"""Refresh of the live line on a terminal: smooth to the eye, negligible CPU."""
LOG_PROGRESS_INTERVAL_S = 5.0
"""Spacing of progress lines when stderr is a file or pipe, so CI logs stay short."""

_PROMPT_WORDS = (
    'the', 'quick', 'brown', 'fox', 'jumps', 'over', 'a', 'lazy', 'dog', 'while', 'seven', 'wizards',
    'quietly', 'pack', 'boxes', 'of', 'jam', 'near', 'an', 'old', 'mill', 'by', 'river', 'where',
    'children', 'play', 'and', 'birds', 'sing', 'through', 'long', 'summer', 'days',
)  # fmt: skip


@dataclass
class BenchConfig:
    """What to send and how: every field has a default that makes a quick, meaningful run."""

    requests: int | None = None
    """Measured requests (warmup excluded); with neither this nor `duration`, 64."""
    duration: float | None = None
    """Stop sending new measured requests after this many seconds."""
    concurrency: int | None = None
    """Streams in flight: the number of workers in a closed loop (8 by default); a cap on
    in-flight requests with `rate` (no cap by default)."""
    rate: float | None = None
    """Open loop: Poisson arrivals at this many requests per second. `None` runs a closed loop."""
    warmup: int | None = None
    """Requests sent first and left out of every figure; by default one per concurrent stream."""
    prompt: str | None = None
    prompt_tokens: int | None = None
    """Instead of `prompt`, a synthetic prompt of about this many tokens."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    timeout: float = 60.0
    """Seconds per network operation of one request (connect, each read)."""
    seed: int = 0
    """Seeds the Poisson arrivals and the synthetic prompt, so runs are repeatable."""
    extra_headers: dict[str, str] | None = None
    """Headers sent with every request (the emulator's `x-emulator-*` controls, a gateway's tags)."""
    arrivals: ArrivalFilter | None = None
    """Open loop, one process of several: which arrivals of the global seeded schedule this one
    sends (`modelkit.bench.plan`); `None` sends them all."""

    def effective_requests(self) -> int | None:
        # With `arrivals`, this counts arrivals of the global schedule (the whole run's requests).
        """Measured request count: the one asked for, 64 without `requests` or `duration`, else unbounded."""
        if self.requests is None and self.duration is None:
            return DEFAULT_REQUESTS
        return self.requests

    def effective_concurrency(self) -> int | None:
        """Closed-loop worker count, or the in-flight cap with `rate` (`None`: no cap)."""
        if self.concurrency is not None:
            return self.concurrency
        return None if self.rate is not None else DEFAULT_CONCURRENCY

    def effective_warmup(self) -> int:
        """Warmup request count: as asked, or one per concurrent stream (8 with `rate` and no cap)."""
        if self.warmup is not None:
            return self.warmup
        return self.effective_concurrency() or DEFAULT_CONCURRENCY

    def effective_prompt(self) -> str:
        """The prompt text every request sends."""
        if self.prompt is not None:
            return self.prompt
        if self.prompt_tokens is not None:
            return synthetic_prompt(self.prompt_tokens, self.seed)
        return DEFAULT_PROMPT

    def as_dict(self) -> dict[str, Any]:
        """The configuration with every default resolved, for the JSON report."""
        return {
            'requests': self.effective_requests(),
            'duration_s': self.duration,
            'concurrency': self.effective_concurrency(),
            'rate_per_s': self.rate,
            'mode': 'open loop (Poisson)' if self.rate is not None else 'closed loop',
            'warmup': self.effective_warmup(),
            'prompt_chars': len(self.effective_prompt()),
            'prompt_tokens': self.prompt_tokens,
            'max_tokens': self.max_tokens,
            'timeout_s': self.timeout,
            'seed': self.seed,
        }


def synthetic_prompt(tokens: int, seed: int) -> str:
    """About `tokens` tokens of common English words (one token each in the usual tokenizers)."""
    rng = random.Random(seed)
    return ' '.join(rng.choice(_PROMPT_WORDS) for _ in range(max(tokens, 1)))


@dataclass(slots=True)
class RequestRecord:
    """What one request did; times are seconds, instants are relative to the start of the run."""

    index: int
    warmup: bool
    scheduled_at: float
    """When the request was due: its Poisson arrival (open loop) or when it was sent (closed loop)."""
    sent_at: float
    ttft: float | None = None
    e2e: float | None = None
    """From sending the request to the end of the stream."""
    output_tokens: int = 0
    tokens_from_usage: bool = False
    """Whether `output_tokens` is the vendor's usage count (else the number of stream events)."""
    events: int = 0
    first_event_at: float | None = None
    last_event_at: float | None = None
    itl: list[float] = field(default_factory=list)
    """Every gap between consecutive stream events: the inter-token latencies."""
    error: str | None = None
    """The error's kind: exception class, plus the status for HTTP errors."""
    error_message: str | None = None
    worker: int = 0
    """Which process (or other worker) of a split run sent it; 0 in a single-process run."""

    @property
    def ok(self) -> bool:
        """Whether the request finished without an error."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (seconds, `_s` suffixed)."""
        return {
            'index': self.index,
            'warmup': self.warmup,
            'scheduled_at_s': self.scheduled_at,
            'sent_at_s': self.sent_at,
            'schedule_lag_s': self.schedule_lag,
            'ttft_s': self.ttft,
            'e2e_s': self.e2e,
            'output_tokens': self.output_tokens,
            'tokens_from_usage': self.tokens_from_usage,
            'events': self.events,
            'first_event_at_s': self.first_event_at,
            'last_event_at_s': self.last_event_at,
            'itl_s': self.itl,
            'error': self.error,
            'error_message': self.error_message,
            'worker': self.worker,
        }

    @property
    def schedule_lag(self) -> float:
        """How late the request started against its plan: the coordinated-omission signal."""
        return max(self.sent_at - self.scheduled_at, 0.0)

    def token_arrivals(self) -> list[tuple[float, float]]:
        """`(instant, tokens)` for each stream event, spreading usage tokens evenly over events."""
        if self.first_event_at is None or not self.events:
            return []
        per_event = self.output_tokens / self.events if self.output_tokens else 1.0
        out = [(self.first_event_at, per_event)]
        t = self.first_event_at
        for gap in self.itl:
            t += gap
            out.append((t, per_event))
        return out


@dataclass
class BenchSummary:
    """The figures of a run, over measured (non-warmup) requests; times in seconds."""

    requests: int
    succeeded: int
    failed: int
    errors: dict[str, int]
    error_samples: dict[str, str]
    wall_time: float
    """From the first measured request sent to the last one finished."""
    ttft: Distribution | None
    itl: Distribution | None
    e2e: Distribution | None
    stream_tokens_per_s: Distribution | None
    """Decode speed of each stream, first to last token."""
    output_tokens: int
    tokens_per_s: float
    requests_per_s: float
    client_cpu_s: float
    """CPU time (user + system) of this process during the measured phase (of all, with --processes)."""
    schedule_lag: Distribution | None = None
    """How late each measured request started against its plan (Poisson arrival, or the end of
    the worker's previous request in a closed loop): when the client cannot keep up, this grows
    while the latencies it measures look fine (coordinated omission)."""
    client_cpu_wait_s: float | None = None
    """How long the client's event-loop thread was ready to run but waiting for a CPU during the
    measured phase (Linux; summed over processes; `None` where the kernel does not say). Time the
    client spent queued behind other processes is added to every latency it measures."""

    @property
    def client_cpu_wait_share(self) -> float | None:
        """`client_cpu_wait_s` over the measured wall time (summed over processes, as the CPU share is)."""
        if self.client_cpu_wait_s is None or self.wall_time <= 0:
            return None
        return self.client_cpu_wait_s / self.wall_time

    @property
    def client_cpu_ms_per_1k_tokens(self) -> float | None:
        """Client CPU milliseconds spent per 1,000 output tokens."""
        if not self.output_tokens:
            return None
        return self.client_cpu_s * 1000.0 / self.output_tokens * 1000.0

    @property
    def client_cpu_share(self) -> float | None:
        """Fraction of one core the client kept busy during the measured phase."""
        if self.wall_time <= 0:
            return None
        return self.client_cpu_s / self.wall_time

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (seconds, `_s` suffixed)."""

        def dist(d: Distribution | None) -> dict[str, float] | None:
            if d is None:
                return None
            return {
                'count': d.count,
                'mean': d.mean,
                'min': d.min,
                'p50': d.p50,
                'p90': d.p90,
                'p99': d.p99,
                'max': d.max,
            }

        return {
            'requests': self.requests,
            'succeeded': self.succeeded,
            'failed': self.failed,
            'errors': self.errors,
            'error_samples': self.error_samples,
            'wall_time_s': self.wall_time,
            'ttft_s': dist(self.ttft),
            'itl_s': dist(self.itl),
            'e2e_s': dist(self.e2e),
            'stream_tokens_per_s': dist(self.stream_tokens_per_s),
            'output_tokens': self.output_tokens,
            'tokens_per_s': self.tokens_per_s,
            'requests_per_s': self.requests_per_s,
            'client_cpu_s': self.client_cpu_s,
            'client_cpu_ms_per_1k_tokens': self.client_cpu_ms_per_1k_tokens,
            'client_cpu_share': self.client_cpu_share,
            'schedule_lag_s': dist(self.schedule_lag),
            'client_cpu_wait_s': self.client_cpu_wait_s,
            'client_cpu_wait_share': self.client_cpu_wait_share,
        }


@dataclass
class BenchResult:
    """A finished run: its configuration, what it targeted, every record and the summary."""

    config: BenchConfig
    target: dict[str, Any]
    records: list[RequestRecord]
    summary: BenchSummary
    measured_start: float
    """Run-relative instant the measured phase began (after warmup)."""
    measured_end: float
    interrupted: bool = False
    """Stopped early (`run_bench(stop=...)`, Ctrl-C): the figures cover the requests that finished."""
    client: dict[str, Any] = field(default_factory=dict)
    """What measured: `loop` (asyncio, uvloop, trio), `transport` (httpx, aiohttp), `processes`."""
    workers: list[dict[str, Any]] = field(default_factory=list)
    """With --processes: each process's share, client CPU and status."""
    status: str = 'complete'
    """`incomplete` when a process died: the records are those that arrived."""
    origin: float = 0.0
    """`time.perf_counter()` at the start of the run, which every instant above is relative to:
    one machine's processes share that clock, so `plan.merge` lines their records up by it."""

    def as_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data."""
        return {
            'modelkit_bench': 1,
            'status': self.status,
            'config': self.config.as_dict(),
            'client': self.client,
            'workers': self.workers,
            'target': self.target,
            'measured_start_s': self.measured_start,
            'measured_end_s': self.measured_end,
            'interrupted': self.interrupted,
            'summary': self.summary.as_dict(),
            'requests': [r.as_dict() for r in self.records],
        }


def summarize(records: list[RequestRecord], *, wall_time: float, client_cpu_s: float) -> BenchSummary:
    """Figures over the measured records (warmup records are skipped here)."""
    measured = [r for r in records if not r.warmup]
    ok = [r for r in measured if r.ok]
    errors = Counter(r.error for r in measured if r.error is not None)
    samples: dict[str, str] = {}
    for r in measured:
        if r.error is not None and r.error not in samples:
            samples[r.error] = (r.error_message or '')[:ERROR_SAMPLE_CHARS]
    output_tokens = sum(r.output_tokens for r in ok)
    rates = [stream_rate(r.output_tokens, r.first_event_at, r.last_event_at) for r in ok]
    return BenchSummary(
        requests=len(measured),
        succeeded=len(ok),
        failed=len(measured) - len(ok),
        errors=dict(errors.most_common()),
        error_samples=samples,
        wall_time=wall_time,
        ttft=describe(r.ttft for r in ok if r.ttft is not None),
        itl=describe(gap for r in ok for gap in r.itl),
        e2e=describe(r.e2e for r in ok if r.e2e is not None),
        stream_tokens_per_s=describe(rate for rate in rates if rate is not None),
        output_tokens=output_tokens,
        tokens_per_s=output_tokens / wall_time if wall_time > 0 else 0.0,
        requests_per_s=len(ok) / wall_time if wall_time > 0 else 0.0,
        client_cpu_s=client_cpu_s,
        schedule_lag=describe(r.schedule_lag for r in measured),
    )


def client_stack() -> dict[str, Any]:
    """The running event loop and the shared client's transport, for the report."""
    import sniffio

    from .._loops import _current_loop, http_transport_for

    if sniffio.current_async_library() == 'trio':
        loop = 'trio'
    else:
        import asyncio

        module = type(asyncio.get_running_loop()).__module__
        loop = 'uvloop' if module.startswith('uvloop') else 'asyncio'
    return {'loop': loop, 'transport': http_transport_for(_current_loop()), 'processes': 1}


class Progress:
    """The live progress report on stderr: one rewritten line on a terminal, else periodic lines."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.is_tty = bool(getattr(self._stream, 'isatty', lambda: False)())
        self._dirty = False

    @property
    def interval(self) -> float:
        """Seconds between updates."""
        return TTY_PROGRESS_INTERVAL_S if self.is_tty else LOG_PROGRESS_INTERVAL_S

    def update(self, text: str) -> None:
        """Show the current state."""
        if not self.enabled:
            return
        if self.is_tty:
            # \r + erase-line, so a shorter line leaves no tail of the previous one.
            self._stream.write(f'\r\x1b[K{text}')
            self._dirty = True
        else:
            self._stream.write(f'{text}\n')
        self._stream.flush()

    def finish(self) -> None:
        """Clear the live line before the final report."""
        if self.enabled and self.is_tty and self._dirty:
            self._stream.write('\r\x1b[K')
            self._stream.flush()
            self._dirty = False


@dataclass
class _RunState:
    """Counters the progress task reads while requests run."""

    phase: str = 'warmup'
    started: int = 0
    done: int = 0
    errors: int = 0
    tokens: int = 0
    phase_start: float = 0.0
    total: int | None = None
    deadline: float | None = None
    fatal: Exception | None = None
    cancel: CancelScope | None = None


def _error_kind(exc: BaseException) -> str:
    status = getattr(exc, 'status_code', None)
    name = type(exc).__name__
    return f'{name} {status}' if isinstance(status, int) else name


async def run_bench(
    model: Model,
    config: BenchConfig,
    *,
    target: dict[str, Any] | None = None,
    progress: Progress | None = None,
    stop: anyio.Event | None = None,
    start_gate: Callable[[], Awaitable[None]] | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    origin: float | None = None,
) -> BenchResult:
    """Run the benchmark against `model` and return every record with the summary.

    A `UserError` (misuse: a missing key, a bad setting) stops the run at once; any other failure
    of a request is recorded under its kind and the run goes on. Setting `stop` ends the run early
    (the CLI sets it on Ctrl-C): requests in flight are cancelled and left out, and the result,
    marked `interrupted`, covers the requests that finished. `start_gate`, awaited between
    warmup and the measured phase, lets several processes start measuring at one instant.
    `on_record` sees each record as it completes (a Ray worker streams them back while it runs);
    `origin`, a `time.perf_counter()` instant, is what the records' instants are relative to
    (default: the start of this call).
    """
    import anyio

    from ..exceptions import UserError
    from ..messages import ModelRequest, UserPromptPart
    from ..models import ModelRequestParameters
    from ..settings import ModelSettings

    settings: ModelSettings = {'max_tokens': config.max_tokens, 'timeout': config.timeout}
    if config.extra_headers:
        settings['extra_headers'] = dict(config.extra_headers)
    messages: list[Any] = [ModelRequest(parts=[UserPromptPart(config.effective_prompt())])]
    params = ModelRequestParameters()
    perf_counter = time.perf_counter
    origin = perf_counter() if origin is None else origin
    state = _RunState()
    records: list[RequestRecord] = []

    async def one(index: int, warmup: bool, scheduled: float) -> float:
        sent = perf_counter()
        record = RequestRecord(index, warmup, scheduled - origin, sent - origin)
        state.started += 1
        events = 0
        try:
            async with model.request_stream(messages, settings, params) as stream:
                async for _ in stream:
                    events += 1
                    if not warmup:
                        state.tokens += 1
                end = perf_counter()
                timing = stream.timing
                usage = stream.usage()
        except UserError as exc:
            # Misuse fails every request the same way: stop now with the one clear message.
            state.fatal = exc
            if state.cancel is not None:
                state.cancel.cancel()
            return perf_counter()
        except Exception as exc:
            record.error = _error_kind(exc)
            record.error_message = ' '.join(str(exc).split()) or type(exc).__name__
            record.e2e = perf_counter() - sent
            state.errors += 1
        else:
            record.events = events
            record.e2e = end - sent
            started_at = timing.started_at if timing.started_at is not None else sent
            if timing.first_event_at is not None:
                record.ttft = timing.first_event_at - started_at
                record.first_event_at = timing.first_event_at - origin
            if timing.event_times:
                record.last_event_at = timing.event_times[-1] - origin
            record.itl = timing.inter_event_gaps()
            if usage.response_tokens is not None:
                record.output_tokens = usage.response_tokens
                record.tokens_from_usage = True
            else:
                record.output_tokens = events
        state.done += 1
        records.append(record)
        if on_record is not None:
            on_record(record)
        return sent + (record.e2e or 0.0)

    async def phase(warmup: bool, count: int | None, deadline: float | None) -> None:
        state.phase = 'warmup' if warmup else 'measure'
        state.started = state.done = state.errors = state.tokens = 0
        state.total = count
        state.deadline = deadline
        state.phase_start = perf_counter()
        if progress is not None:
            progress.update(_phase_text(state, config))
        if config.rate is None or warmup:
            await _closed_loop(
                one, warmup, count, deadline, config.effective_concurrency() or DEFAULT_CONCURRENCY
            )
        else:
            await _open_loop(
                one,
                count,
                deadline,
                config.rate,
                config.effective_concurrency(),
                config.seed,
                config.arrivals,
            )

    async def report_progress() -> None:
        if progress is None or not progress.enabled:
            return
        while True:
            await anyio.sleep(progress.interval)
            progress.update(_progress_text(state, perf_counter()))

    measured_start = measured_end = 0.0
    cpu = 0.0
    wait_before: float | None = None
    wait_after: float | None = None
    interrupted = False
    # Errors are stored and raised after the task groups close: raised inside, anyio would wrap
    # them in exception groups and the CLI could not print them as one plain line.
    async with anyio.create_task_group() as tg:
        state.cancel = tg.cancel_scope
        tg.start_soon(report_progress)
        with anyio.CancelScope() as phases:
            if stop is not None:

                async def watch_stop() -> None:
                    nonlocal interrupted
                    await stop.wait()
                    interrupted = True
                    phases.cancel()

                tg.start_soon(watch_stop)
            warmup = config.effective_warmup()
            if warmup:
                await phase(True, warmup, None)
                warmup_records = [r for r in records if r.warmup]
                if state.fatal is None and warmup_records and not any(r.ok for r in warmup_records):
                    first = warmup_records[0]
                    state.fatal = BenchError(
                        f'every warmup request failed, the first with {first.error}: {first.error_message}'
                    )
            if state.fatal is None and start_gate is not None:
                await start_gate()
            if state.fatal is None:
                count = config.effective_requests()
                cpu_before = time.process_time()
                wait_before = cpu_wait()
                start = perf_counter()
                measured_start = start - origin
                deadline = start + config.duration if config.duration is not None else None
                try:
                    with _frozen_heap():
                        await phase(False, count, deadline)
                finally:
                    # Also when stopped: the figures then cover the time until the stop.
                    measured_end = perf_counter() - origin
                    cpu = time.process_time() - cpu_before
                    wait_after = cpu_wait()
        tg.cancel_scope.cancel()
    if progress is not None:
        progress.finish()
    if state.fatal is not None:
        raise state.fatal
    records.sort(key=lambda r: (not r.warmup, r.sent_at))
    summary = summarize(records, wall_time=max(measured_end - measured_start, 0.0), client_cpu_s=cpu)
    if wait_before is not None and wait_after is not None:
        summary.client_cpu_wait_s = max(wait_after - wait_before, 0.0)
    return BenchResult(
        config,
        dict(target or {}),
        records,
        summary,
        measured_start,
        measured_end,
        interrupted,
        client=client_stack(),
        origin=origin,
    )


def cpu_wait() -> float | None:
    """Seconds this thread has spent ready to run but waiting for a CPU (Linux), else `None`.

    The second field of `/proc/thread-self/schedstat`: the kernel's run-queue wait, which no
    CPU clock shows. On a machine busier than its cores, both the client and the server it
    measures wait there, and every time to first token grows by those waits.
    """
    try:
        with open('/proc/thread-self/schedstat', 'rb') as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects alive before the measured phase out of the collector's full passes.

    A full collection walks every tracked object: the interpreter's modules, pydantic's schemas,
    the HTTP stack, the records kept so far (about 55,000 objects in a bench process: 50-110 ms
    on a loaded two-core machine), stalling every stream in flight at once, so each one that
    falls in the measured phase is a latency spike of all of them. Frozen, those objects are
    skipped; what the phase itself allocates is still collected, so memory stays bounded however
    long the run. (No collection first: in a big process that is itself a long pause, and
    freezing is a constant-time splice.)
    """
    if gc.get_freeze_count():
        # The caller froze objects of its own; unfreezing afterwards would thaw theirs too.
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class BenchError(Exception):
    """The run cannot give meaningful figures: for example every warmup request failed."""


async def _closed_loop(
    one: Callable[[int, bool, float], Awaitable[float]],
    warmup: bool,
    count: int | None,
    deadline: float | None,
    concurrency: int,
) -> None:
    import anyio

    counter = itertools.count()
    perf_counter = time.perf_counter

    async def worker() -> None:
        # A worker's next request is due when its last one ended: how long it then took to
        # start is the schedule lag of a closed loop (the event loop busy with other streams).
        due = perf_counter()
        while True:
            if deadline is not None and perf_counter() >= deadline:
                return
            index = next(counter)
            if count is not None and index >= count:
                return
            due = await one(index, warmup, due)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency if count is None else min(concurrency, count)):
            tg.start_soon(worker)


async def _open_loop(
    one: Callable[[int, bool, float], Awaitable[float]],
    count: int | None,
    deadline: float | None,
    rate: float,
    cap: int | None,
    seed: int,
    arrivals: ArrivalFilter | None = None,
) -> None:
    import anyio

    limiter = anyio.CapacityLimiter(cap) if cap is not None else None
    perf_counter = time.perf_counter

    async def arrive(index: int, scheduled: float) -> None:
        if limiter is None:
            await one(index, False, scheduled)
        else:
            async with limiter:
                await one(index, False, scheduled)

    due = perf_counter()
    keeps = arrivals.keeps() if arrivals is not None else None
    async with anyio.create_task_group() as tg:
        for index, gap in enumerate(poisson_gaps(rate, random.Random(seed))):
            if count is not None and index >= count:
                break
            due += gap
            if deadline is not None and due >= deadline:
                break
            if keeps is not None and not keeps(index):
                continue  # another process's arrival: the union of all shares is this schedule
            # Sleep to the planned instant: arrivals stay on schedule however slow the answers are.
            await anyio.sleep(max(0.0, due - perf_counter()))
            tg.start_soon(arrive, index, due)


def _phase_text(state: _RunState, config: BenchConfig) -> str:
    count = f'{state.total} ' if state.total is not None else ''
    if state.phase == 'warmup':
        return f'bench: {count}warmup requests first (left out of the figures)'
    if config.rate is not None:
        how = f'Poisson arrivals at {config.rate:g} requests/s'
    else:
        how = f'concurrency {config.effective_concurrency()}'
    until = f' for {config.duration:g} s' if config.duration is not None else ''
    return f'bench: measuring {count}requests{until}, {how}'


def _progress_text(state: _RunState, now: float) -> str:
    elapsed = now - state.phase_start
    total = f'/{state.total}' if state.total is not None else ''
    if state.phase == 'warmup':
        return f'bench: warming up {state.done}{total}'
    rate = state.tokens / elapsed if elapsed > 0 else 0.0
    in_flight = state.started - state.done
    errors = f', {state.errors} errors' if state.errors else ''
    return (
        f'bench: {state.done}{total} requests done, {in_flight} in flight{errors}, '
        f'{_thousands(rate)} tokens/s, {elapsed:.1f} s{_eta(state, now, elapsed)}'
    )


def _eta(state: _RunState, now: float, elapsed: float) -> str:
    """`, ETA N s`: the time left by the deadline, or by the pace of the requests done so far."""
    left: float | None = None
    if state.deadline is not None:
        left = max(state.deadline - now, 0.0)
    if state.total is not None and state.done:
        by_pace = (state.total - state.done) * elapsed / state.done
        left = by_pace if left is None else min(left, by_pace)
    if left is None:
        return ''  # nothing finished yet: no pace to go by
    return f', ETA {left:.0f} s' if left >= 10 else f', ETA {left:.1f} s'


def _thousands(value: float) -> str:
    return f'{value:,.0f}' if math.isfinite(value) else '-'
