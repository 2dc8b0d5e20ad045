"""Running the bench on an event loop of choice, and across N local processes (stdlib only).

`run_on_loop(main, loop)` runs an async function on asyncio, uvloop or trio. `run_processes`
starts one spawned child per share of `split_plan`, each warming up on its own, then meeting at
a barrier so every measured phase starts at one instant, and merges the children's raw records
with `plan.merge`. A child that dies ends the run: the others are stopped, their records are
kept, and the failure names the process.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import UserError
from .plan import Share, merge, split_plan

if TYPE_CHECKING:
    import anyio

    from ..models import Model
    from .harness import BenchConfig, BenchResult, Progress, RequestRecord

__all__ = (
    'LOOPS',
    'ModelSpec',
    'ProcessFailure',
    'bench_model',
    'default_loop',
    'run_on_loop',
    'run_processes',
)

T = TypeVar('T')

LOOPS = ('asyncio', 'uvloop', 'trio')

START_BARRIER_TIMEOUT_S = 120.0
"""How long the processes get to be ready to measure: spawned interpreters, the
imports and the warmup of each on a loaded machine, with room to spare; past it the run fails."""

RESULT_GRACE_S = 5.0
"""How long after a process exits its result may still be in the queue (a big pickled record
list is written by a feeder thread, which the exit waits for, but delivery can lag)."""

POLL_S = 0.05
"""How often the parent looks at its children and a child at the stop flag."""


def default_loop() -> str:
    """uvloop when it is installed (the `fast` extra), else asyncio."""
    from importlib.util import find_spec

    return 'uvloop' if find_spec('uvloop') is not None else 'asyncio'


def run_on_loop(main: Callable[[], Awaitable[T]], loop: str) -> T:
    """Run `main` on `loop` (asyncio, uvloop or trio); a missing one is a `UserError` with its install."""
    import anyio

    if loop == 'trio':
        try:
            import trio  # noqa: F401
        except ModuleNotFoundError:
            raise UserError('--loop trio needs trio: pip install trio') from None
        return anyio.run(main, backend='trio')
    if loop == 'uvloop':
        try:
            import uvloop
        except ModuleNotFoundError:
            raise UserError("--loop uvloop needs uvloop: install modelkit-wire's `fast` extra") from None
        return anyio.run(main, backend='asyncio', backend_options={'loop_factory': uvloop.new_event_loop})
    if loop != 'asyncio':
        raise UserError(f'--loop is one of {", ".join(LOOPS)}, not {loop!r}')
    return anyio.run(main, backend='asyncio')


@dataclass(frozen=True)
class ModelSpec:
    """What a child process needs to build the model: plain data, so it crosses a spawn."""

    model: str | None
    """A model string; `None` for the emulator at `base_url`."""
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    max_retries: int = 0

    def build(self) -> Model:
        """The model, built in the process that uses it."""
        if self.model is None:
            from .target import emulator_model

            assert self.base_url is not None
            assert self.api_key is not None
            return emulator_model(self.base_url, self.api_key, max_retries=self.max_retries)
        from .._cli_chat import build_cli_model

        return build_cli_model(
            self.model, base_url=self.base_url, api_key_env=self.api_key_env, max_retries=self.max_retries
        )


async def bench_model(
    spec: ModelSpec,
    config: BenchConfig,
    *,
    target: dict[str, Any],
    watch: Callable[[anyio.Event], Coroutine[Any, Any, None]],
    progress: Progress | None = None,
    start_gate: Callable[[], Awaitable[None]] | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    origin: float | None = None,
) -> BenchResult:
    """`run_bench` on the model `spec` builds, ended early when `watch` sets the event it is given;
    the loop's shared client is closed afterwards (`on_record` and `origin` as for `run_bench`)."""
    import anyio

    from .._transport import aclose_shared_http_client
    from .harness import run_bench

    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, stop)
            result = await run_bench(
                spec.build(),
                config,
                target=target,
                progress=progress,
                stop=stop,
                start_gate=start_gate,
                on_record=on_record,
                origin=origin,
            )
            tg.cancel_scope.cancel()
        return result
    finally:
        await aclose_shared_http_client()


@dataclass(frozen=True)
class ProcessFailure:
    """A process that ended without a result."""

    worker: int
    pid: int | None
    exitcode: int | None

    def describe(self) -> str:
        """`process 2 (pid 4242) died with exit code -9`."""
        how = (
            f'was killed by signal {-self.exitcode}'
            if self.exitcode is not None and self.exitcode < 0
            else (f'exited with code {self.exitcode} without a result')
        )
        return f'process {self.worker} (pid {self.pid}) {how}'


def run_processes(
    spec: ModelSpec,
    config: BenchConfig,
    processes: int,
    *,
    loop: str,
    target: dict[str, Any],
    on_start: Callable[[], None] | None = None,
) -> tuple[BenchResult, list[ProcessFailure]]:
    """The run split over `processes` children; every completed record merged into one result.

    `on_start` is called when every child has warmed up and the measured phase is set to begin.

    Raises `UserError` when the plan cannot be split, or when no child returned a result.
    """
    try:
        shares = split_plan(config, processes)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    # spawn, not fork: the parent may hold threads (the emulator's output pump) and a fork of a
    # threaded process is unsafe; each child imports modelkit afresh.
    context = multiprocessing.get_context('spawn')
    # Lock-free flags, not a multiprocessing Event or Barrier: their set/abort wait for every
    # sleeping waiter to wake, so a child killed while waiting would hang the parent.
    flags = context.RawArray('d', 2)
    messages: multiprocessing.Queue[tuple[str, int, BenchResult | None]] = context.Queue()
    children = [
        context.Process(
            target=_child,
            args=(share, share.config(config), spec, loop, target, flags, messages),
            name=f'modelkit-bench-{share.worker}',
            daemon=True,
        )
        for share in shares
    ]
    for child in children:
        child.start()
    ready: set[int] = set()
    done: dict[int, BenchResult] = {}
    failures: list[ProcessFailure] = []
    exited_at: dict[int, float] = {}
    started = time.monotonic()

    def stop() -> None:
        flags[_STOP] = 1.0

    try:
        while len(done) + len(failures) < processes:
            try:
                kind, worker, result = messages.get(timeout=POLL_S)
            except queue.Empty:
                pass
            else:
                if kind == 'ready':
                    ready.add(worker)
                    if len(ready) == processes and not flags[_STOP]:
                        flags[_GO_AT] = time.perf_counter() + START_SLACK_S
                        if on_start is not None:
                            on_start()
                elif result is not None:
                    done[worker] = result
                continue
            now = time.monotonic()
            if not flags[_GO_AT] and not flags[_STOP] and now - started > START_BARRIER_TIMEOUT_S:
                stop()  # someone never finished warming up: measure nothing rather than a part
            for i, child in enumerate(children):
                if i in done or child.exitcode is None or any(f.worker == i for f in failures):
                    continue
                first_seen = exited_at.setdefault(i, now)
                if child.exitcode != 0 or now - first_seen > RESULT_GRACE_S:
                    failures.append(ProcessFailure(i, child.pid, child.exitcode))
                    stop()  # one share missing changes the load: end the run, keep what completed
    except KeyboardInterrupt:
        stop()
        raise
    finally:
        for child in children:
            child.join(timeout=RESULT_GRACE_S)
            if child.is_alive():
                child.terminate()
    if not done:
        raise UserError('; '.join(f.describe() for f in failures) or 'no process returned a result')
    parts = [done[i] for i in sorted(done)]
    workers = []
    for share, child in zip(shares, children, strict=True):
        entry: dict[str, Any] = {'worker': share.worker, 'pid': child.pid, 'share': share.as_dict()}
        part = done.get(share.worker)
        if part is not None:
            status = 'interrupted' if part.interrupted else 'ok'
            entry.update(
                status=status, client_cpu_s=part.summary.client_cpu_s, requests=part.summary.requests
            )
        else:
            entry.update(status='died', exitcode=child.exitcode, client_cpu_s=None, requests=None)
        workers.append(entry)
    client = dict(parts[0].client, processes=processes)
    status = 'incomplete' if failures else 'complete'
    return merge(config, target, parts, client=client, workers=workers, status=status), failures


_STOP, _GO_AT = 0, 1
"""Indices into the shared flags: stop (non-zero: end now), and the perf_counter() instant at
which every process starts measuring (0 until all have warmed up)."""

START_SLACK_S = 0.05
"""How far ahead the common start is set, so every child sees it before it comes."""


def _child(
    share: Share,
    config: BenchConfig,
    spec: ModelSpec,
    loop: str,
    target: dict[str, Any],
    flags: Any,
    messages: multiprocessing.Queue[tuple[str, int, BenchResult | None]],
) -> None:
    # Ctrl-C reaches the whole process group: the parent turns it into the stop flag for everyone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import anyio

    stopped: list[anyio.Event] = []

    async def watch(stop: anyio.Event) -> None:
        stopped.append(stop)
        while not flags[_STOP]:  # noqa: ASYNC110 - a flag in shared memory has nothing to await
            await anyio.sleep(POLL_S)
        stop.set()

    async def gate() -> None:
        messages.put(('ready', share.worker, None))
        while not flags[_GO_AT]:
            if flags[_STOP]:
                stopped[0].set()  # another process died before the start: measure nothing
                return
            await anyio.sleep(0.005)
        # The monotonic clock is one for the machine: every process starts at this instant.
        await anyio.sleep(max(flags[_GO_AT] - time.perf_counter(), 0.0))

    result = run_on_loop(lambda: bench_model(spec, config, target=target, watch=watch, start_gate=gate), loop)
    for record in result.records:
        record.worker = share.worker
    messages.put(('result', share.worker, result))
    messages.close()
    messages.join_thread()
