"""`modelkit bench --ray`: the run split over Ray actors across a cluster. The only module that imports ray.

The plan is the one `--processes` uses (`plan.split_plan`), and so is the merge (`plan.merge`, on
the raw records). Ray carries everything: each share runs in an actor that reserves one CPU,
placed with the SPREAD strategy so the actors land on as many nodes as the cluster has; its
records come back as the items of a streaming generator, a worker-tagged batch at least every
`HEARTBEAT_S` (an empty one is the heartbeat); start, stop and the clock probe are actor calls.

The workers warm up, report ready, and the driver sets one start instant, given to each worker
in its own node's wall clock (corrected by a clock-offset estimate from the round trips of a few
calls). A worker that dies, fails or goes silent ends the run: the others are stopped, nothing is
retried (a share run again would double its load), and the result, marked `incomplete`, covers
the records that arrived.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ray

from ..exceptions import UserError
from .harness import BenchConfig, BenchError, BenchResult, RequestRecord, summarize
from .plan import Share, merge, split_plan
from .processes import ModelSpec, bench_model, default_loop, run_on_loop

__all__ = (
    'HEARTBEAT_S',
    'SILENCE_LIMIT_S',
    'BenchWorker',
    'Placement',
    'RayCluster',
    'WorkerFailure',
    'check_cluster',
    'connect',
    'place',
    'run_ray',
)

CONNECT_TIMEOUT_S = 30.0
"""How long connecting to the cluster may take: far more than a reachable cluster needs."""
PLACEMENT_TIMEOUT_S = 60.0
"""How long the workers get to be placed and started by default (`--placement-timeout`)."""
HEARTBEAT_S = 0.5
"""How often a worker sends its batch of records, empty or not: twice within the promised second."""
SILENCE_LIMIT_S = 5.0
"""A worker that sends nothing for this long counts as dead, whatever Ray says: its node may be
cut off, which Ray's own health checks take tens of seconds to declare."""
START_TIMEOUT_S = 120.0
"""How long the workers get to warm up and meet at the barrier (as `--processes`)."""
START_SLACK_S = 0.3
"""How far ahead the common start is set: room for the start call to reach every worker."""
STOP_GRACE_S = 3.0
"""How long stopped workers get to send their last batch before they are killed."""
CLOCK_SAMPLES = 5
"""Round trips per worker for its clock offset; the shortest gives the estimate."""
POLL_S = 0.05
"""How long the driver waits for a batch before it looks at the clocks and the barrier."""


def _install_hint() -> str:
    return "pip install 'modelkit-wire[ray]'"


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


@dataclass
class RayCluster:
    """The Ray cluster a run uses, as the driver found it."""

    address: str
    nodes: list[dict[str, Any]]
    """The alive nodes, as `ray.nodes()` describes them."""
    cpus: float
    connected_here: bool
    """Whether `connect` made the connection (and so `disconnect` ends it)."""

    @property
    def local(self) -> bool:
        """Whether every node is this machine, so a server on its loopback is reachable from all."""
        hostname = socket.gethostname()
        return all(_is_loopback(n.get('NodeManagerAddress')) or n.get('NodeManagerHostname') == hostname
                   for n in self.nodes)  # fmt: skip

    def disconnect(self) -> None:
        """End the driver's connection, if `connect` made it."""
        if self.connected_here and ray.is_initialized():
            ray.shutdown()


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str) or not host:
        return False
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(address: str) -> RayCluster:
    """Connect this process to the Ray cluster at `address` (`auto`: the one running on this machine).

    A process already connected (a library caller's `ray.init`) keeps its connection.
    """
    connected_here = False
    if not ray.is_initialized():
        try:
            _init_within(address, CONNECT_TIMEOUT_S)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = 'on this machine' if address == 'auto' else f'at {address}'
            raise UserError(
                f'--ray {address}: no Ray cluster found {where} ({" ".join(str(exc).split())[:200]}); '
                'start one with "ray start --head", or give the address of a running one (a cluster '
                'with token authentication also needs RAY_AUTH_MODE=token and its token)'
            ) from None
        connected_here = True
    nodes = [n for n in ray.nodes() if n.get('Alive')]
    cpus = float(ray.cluster_resources().get('CPU', 0.0))
    return RayCluster(address, nodes, cpus, connected_here)


def _init_within(address: str, timeout: float) -> None:
    """`ray.init(address)`, or a `ConnectionError` after `timeout` seconds."""
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def init() -> None:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            done.set()

    # In a thread: an address Ray cannot reach (or a loopback one it rewrote) makes ray.init retry
    # for many minutes, and a command must not hang. The thread is left behind on a timeout.
    threading.Thread(target=init, name='modelkit-ray-connect', daemon=True).start()
    if not done.wait(timeout):
        raise ConnectionError(f'no answer within {timeout:g} s')
    if outcome[0] is not None:
        raise outcome[0]


def check_cluster(cluster: RayCluster, workers: int, *, embedded: bool, base_url: str | None) -> None:
    """A `UserError`, before anything starts, when the run cannot work on this cluster: fewer CPUs
    than `workers` (one each), or an endpoint its workers cannot reach (the embedded emulator, or
    a loopback `base_url`, on a cluster with nodes other than this machine)."""
    if workers > cluster.cpus:
        raise UserError(
            f'--workers {workers} needs {workers} CPUs (one per worker), and the Ray cluster has '
            f'{cluster.cpus:g} in all: ask for at most {int(cluster.cpus)} workers, or add nodes'
        )
    if cluster.local:
        return
    if embedded:
        raise UserError(
            '--ray: the embedded emulator listens on this machine only, and the cluster has other '
            'nodes that cannot reach it; run "modelkit emulate --host 0.0.0.0" (or any server) '
            'where the workers can reach it, and pass its URL with --base-url'
        )
    host = urlsplit(base_url).hostname if base_url is not None else None
    if _is_loopback(host):
        raise UserError(
            f'--ray: --base-url {base_url} is a loopback address, which on the other nodes of the '
            "cluster is each node itself; give an address the workers' nodes can reach"
        )


# --------------------------------------------------------------------------------------------
# The worker (a Ray actor)
# --------------------------------------------------------------------------------------------


class BenchWorker:
    """One share of the run, in its own Ray actor process (one CPU).

    `run` is a streaming generator: the bench runs in a thread of the actor while the generator
    yields a batch every `HEARTBEAT_S`; `start_at`, `stop` and `clock` are served meanwhile
    (the actor is created with room for concurrent calls).
    """

    def __init__(self, worker: int, env: dict[str, str]) -> None:
        # The credentials the driver forwards: a remote node's environment does not have them.
        os.environ.update(env)
        self._worker = worker
        self._go_at: float | None = None
        self._stop = threading.Event()

    def hello(self) -> dict[str, Any]:
        """Where this worker runs: its node and process, and the modelkit version there."""
        from .. import __version__

        context = ray.get_runtime_context()
        return {
            'pid': os.getpid(),
            'node_id': context.get_node_id(),
            'node_ip': ray.util.get_node_ip_address(),
            'hostname': socket.gethostname(),
            'version': __version__,
        }

    def clock(self) -> float:
        """This node's wall clock, for the driver's offset estimate."""
        return time.time()

    def start_at(self, instant: float) -> None:
        """Start measuring at `instant`, a wall-clock time of this node."""
        self._go_at = instant

    def stop(self) -> None:
        """End the run now; the requests in flight are left out."""
        self._stop.set()

    def run(
        self, share: Share, config: BenchConfig, spec: ModelSpec, loop: str | None, target: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Run the share; yield batches of finished records (and the phase events) as it goes."""
        out: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        wake = threading.Event()
        perf_origin = time.perf_counter()
        # Read next to each other: the wall-clock time of the instant the records are relative to.
        wall_origin = time.time()
        measuring: list[float] = []  # the CPU time when the measured phase began
        thread = threading.Thread(
            target=self._bench,
            args=(share, config, spec, loop or default_loop(), target, out, wake, perf_origin, measuring),
            name=f'modelkit-bench-ray-{share.worker}',
            daemon=True,
        )
        thread.start()
        yield {
            'worker': self._worker,
            'kind': 'hello',
            'origin_wall': wall_origin,
            'records': [],
            'events': [],
        }
        while True:
            wake.wait(HEARTBEAT_S)
            wake.clear()
            finished = not thread.is_alive()  # read before draining: nothing it put is left behind
            records: list[RequestRecord] = []
            events: list[tuple[str, Any]] = []
            while True:
                try:
                    kind, item = out.get_nowait()
                except queue.Empty:
                    break
                if kind == 'record':
                    records.append(item)
                else:
                    events.append((kind, item))
            yield {
                'worker': self._worker,
                'kind': 'batch',
                'records': records,
                'events': events,
                'elapsed': time.perf_counter() - perf_origin,
                'cpu_s': time.process_time() - measuring[0] if measuring else None,
            }
            if finished:
                return

    def _bench(
        self,
        share: Share,
        config: BenchConfig,
        spec: ModelSpec,
        loop: str,
        target: dict[str, Any],
        out: queue.SimpleQueue[tuple[str, Any]],
        wake: threading.Event,
        perf_origin: float,
        measuring: list[float],
    ) -> None:
        import anyio

        stopped: list[anyio.Event] = []

        async def watch(stop: anyio.Event) -> None:
            stopped.append(stop)
            while not self._stop.is_set():  # noqa: ASYNC110 - a threading.Event has nothing to await
                await anyio.sleep(POLL_S)
            stop.set()

        async def gate() -> None:
            out.put(('ready', None))
            wake.set()
            while self._go_at is None:
                if self._stop.is_set():
                    stopped[0].set()  # stopped before the start: measure nothing
                    return
                await anyio.sleep(0.005)
            await anyio.sleep(max(self._go_at - time.time(), 0.0))
            measuring.append(time.process_time())
            started = {'lag_s': max(time.time() - self._go_at, 0.0), 'at': time.perf_counter() - perf_origin}
            out.put(('started', started))

        def record(r: RequestRecord) -> None:
            r.worker = share.worker
            out.put(('record', r))

        try:
            result = run_on_loop(
                lambda: bench_model(
                    spec,
                    config,
                    target=target,
                    watch=watch,
                    start_gate=gate,
                    on_record=record,
                    origin=perf_origin,
                ),
                loop,
            )
        except BaseException as exc:  # whatever it is, the driver must hear of it
            out.put(('error', f'{type(exc).__name__}: {" ".join(str(exc).split())}'[:300]))
        else:
            out.put(
                (
                    'done',
                    {
                        'measured_start': result.measured_start,
                        'measured_end': result.measured_end,
                        'client_cpu_s': result.summary.client_cpu_s,
                        'interrupted': result.interrupted,
                        'client': result.client,
                    },
                )
            )
        finally:
            wake.set()


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerFailure:
    """A worker that ended without its result."""

    worker: int
    node: str
    pid: int | None
    reason: str

    def describe(self) -> str:
        """`Ray worker 1 (pid 4242) on node 10.0.0.7 (gpu-3) died: ...`."""
        return f'Ray worker {self.worker} (pid {self.pid}) on node {self.node} {self.reason}'


@dataclass
class _Worker:
    share: Share
    actor: Any
    info: dict[str, Any]
    offset: float = 0.0
    """This node's wall clock minus the driver's."""
    offset_error: float = 0.0
    gen: Any = None
    records: list[RequestRecord] = field(default_factory=list)
    batches: int = 0
    origin_wall: float | None = None
    ready: bool = False
    started: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    elapsed: float = 0.0
    cpu_s: float | None = None
    last_seen: float = 0.0
    max_gap: float = 0.0
    """The longest wait between two of its batches, as the driver received them."""
    finished: bool = False
    failure: WorkerFailure | None = None
    status: str = 'ok'

    @property
    def node(self) -> str:
        return f'{self.info.get("node_ip")} ({self.info.get("hostname")})'

    def fail(self, status: str, reason: str) -> None:
        if self.failure is None and self.done is None:
            self.failure = WorkerFailure(self.share.worker, self.node, self.info.get('pid'), reason)
            self.status = status
        self.finished = True


def _forwarded_env(model: str | None, api_key_env: str | None) -> dict[str, str]:
    """The key variable the model reads, from the driver's environment, for workers on other nodes."""
    names: list[str] = []
    if api_key_env:
        names.append(api_key_env)
    elif model is not None and ':' in model:
        from .._cli_chat import _provider_of, check_model_string
        from ..cli import _provider_env

        prefix = check_model_string(model)
        if prefix is not None:
            key = _provider_env(_provider_of(prefix))[0]
            names.extend([key] if key else [])
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def _clock_offset(actor: Any) -> tuple[float, float]:
    """The worker's clock minus ours, and its uncertainty (half the shortest round trip)."""
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_SAMPLES):
        before = time.time()
        theirs = float(ray.get(actor.clock.remote()))
        after = time.time()
        estimate = (theirs - (before + after) / 2, (after - before) / 2)
        if best is None or estimate[1] < best[1]:
            best = estimate
    assert best is not None
    return best


@dataclass
class Placement:
    """Workers asked of the cluster, not yet waited for: whatever the driver does next (start the
    emulator) overlaps their start, which is the slow part (a process, its imports)."""

    cluster: RayCluster
    actors: list[Any]
    hellos: list[Any]
    asked_at: float
    """`time.monotonic()` when they were asked for: the placement timeout counts from here."""

    def kill(self) -> None:
        """End every worker (a no-op for those already gone)."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def place(
    cluster: RayCluster, workers: int, *, model: str | None = None, api_key_env: str | None = None
) -> Placement:
    """Ask the cluster for `workers` actors of one CPU each, spread across its nodes; returns at once.

    `model` and `api_key_env` say which key variable the workers need from this environment.
    """
    check_cluster(cluster, workers, embedded=False, base_url=None)
    env = _forwarded_env(model, api_key_env)
    remote = ray.remote(BenchWorker)
    actors = [
        # No restarts and no task retries: a share run again would add its load a second time.
        remote.options(
            num_cpus=1, scheduling_strategy='SPREAD', max_concurrency=4, max_restarts=0, max_task_retries=0
        ).remote(worker, env)
        for worker in range(workers)
    ]
    return Placement(cluster, actors, [actor.hello.remote() for actor in actors], time.monotonic())


def _await_placement(placement: Placement, shares: list[Share], timeout: float) -> list[_Worker]:
    workers = len(shares)
    if len(placement.actors) != workers:
        raise ValueError(f'the placement has {len(placement.actors)} workers, the plan {workers}')
    cpus = placement.cluster.cpus
    try:
        left = max(timeout - (time.monotonic() - placement.asked_at), 0.0)
        ready, _ = ray.wait(placement.hellos, num_returns=workers, timeout=left)
        if len(ready) < workers:
            free = float(ray.available_resources().get('CPU', 0.0))
            raise BenchError(
                f'placed {len(ready)} of {workers} Ray workers within {timeout:g} s (each needs one CPU; '
                f"{free:g} of the cluster's {cpus:g} CPUs are free): the rest are still waiting"
            )
        try:
            infos = ray.get(placement.hellos)
        except ray.exceptions.RayError as exc:
            raise BenchError(
                f'a Ray worker could not start ({_first_sentence(exc)}); is modelkit-wire[ray], at the '
                'version of this machine, installed on every node?'
            ) from None
    except BaseException:
        placement.kill()
        raise
    actors = placement.actors
    placed = [_Worker(share, actor, info) for share, actor, info in zip(shares, actors, infos, strict=True)]
    for worker in placed:
        worker.offset, worker.offset_error = _clock_offset(worker.actor)
    return placed


def run_ray(
    spec: ModelSpec,
    config: BenchConfig,
    workers: int,
    *,
    cluster: RayCluster,
    loop: str | None,
    target: dict[str, Any],
    placement_timeout: float = PLACEMENT_TIMEOUT_S,
    on_placed: Callable[[list[dict[str, Any]]], None] | None = None,
    on_start: Callable[[], None] | None = None,
    placement: Placement | None = None,
) -> tuple[BenchResult, list[WorkerFailure]]:
    """The run split over `workers` Ray actors; every record that arrived merged into one result.

    `placement`, from `place`, gives workers asked for earlier (else they are asked for now).
    `on_placed` gets each worker's node, pid and modelkit version once all are placed;
    `on_start` is called when all have warmed up and the measured phase is set to begin.
    Raises `UserError` when the plan cannot be split or the cluster is too small, `BenchError`
    when placement times out or no worker started measuring.
    """
    try:
        shares = split_plan(config, workers)
    except ValueError as exc:
        raise UserError(str(exc).replace('processes', 'workers').replace('process', 'worker')) from None
    if placement is None:
        placement = place(cluster, workers, model=spec.model, api_key_env=spec.api_key_env)
    placed = _await_placement(placement, shares, placement_timeout)
    try:
        if on_placed is not None:
            on_placed(
                [
                    {'worker': w.share.worker, 'node': w.node, 'pid': w.info.get('pid'),
                     'version': w.info.get('version')}
                    for w in placed
                ]
            )  # fmt: skip
        for w in placed:
            w.gen = w.actor.run.options(num_returns='streaming').remote(
                w.share, w.share.config(config), spec, loop, target
            )
            w.last_seen = time.monotonic()
        interrupted = _drive(placed, on_start)
    finally:
        placement.kill()
    return _result(config, target, placed, cluster, interrupted)


def _drive(placed: list[_Worker], on_start: Callable[[], None] | None) -> bool:
    """Collect every worker's stream until all end; whether Ctrl-C stopped the run."""
    start_by = time.monotonic() + START_TIMEOUT_S
    go_sent = False
    stopping_since: float | None = None
    interrupted = False

    def stop_all() -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
            for w in placed:
                if not w.finished:
                    w.actor.stop.remote()

    while True:
        live = [w for w in placed if not w.finished]
        if not live:
            return interrupted
        now = time.monotonic()
        if stopping_since is not None and now - stopping_since > STOP_GRACE_S:
            for w in live:
                w.fail('died', f'did not stop within {STOP_GRACE_S:g} s of being asked')
            return interrupted
        try:
            ready, _ = ray.wait([w.gen for w in live], num_returns=1, timeout=POLL_S)
            for gen in ready:
                _take(next(w for w in live if w.gen is gen))
        except KeyboardInterrupt:
            interrupted = True
            stop_all()
            continue
        now = time.monotonic()
        for w in live:
            if not w.finished and now - w.last_seen > SILENCE_LIMIT_S:
                w.fail('died', f'sent nothing for {SILENCE_LIMIT_S:g} s (no heartbeat)')
        if any(w.failure is not None for w in placed):
            stop_all()
        elif not go_sent and all(w.ready for w in placed):
            go_at = time.time() + START_SLACK_S
            for w in placed:
                w.actor.start_at.remote(go_at + w.offset)
            go_sent = True
            if on_start is not None:
                on_start()
        elif not go_sent and now > start_by:
            for w in placed:
                if not w.ready:
                    w.fail('failed', f'did not finish warming up within {START_TIMEOUT_S:g} s')
            stop_all()


def _take(w: _Worker) -> None:
    """Read the next item of a worker's stream (it is ready), or learn that the worker is gone."""
    try:
        ref = next(w.gen)
        batch: dict[str, Any] = ray.get(ref)
    except StopIteration:
        w.finished = True
        if w.done is None:
            w.fail('failed', 'ended without a result')
        return
    except Exception as exc:  # Ray's errors for a dead actor, a dead node, a lost object
        w.fail('died', f'died ({_first_sentence(exc)})')
        return
    now = time.monotonic()
    if w.batches:
        w.max_gap = max(w.max_gap, now - w.last_seen)
    w.last_seen = now
    w.batches += 1
    if batch['kind'] == 'hello':
        w.origin_wall = batch['origin_wall']
        return
    w.records.extend(batch['records'])
    w.elapsed = batch['elapsed']
    if batch['cpu_s'] is not None:
        w.cpu_s = batch['cpu_s']
    for kind, item in batch['events']:
        if kind == 'ready':
            w.ready = True
        elif kind == 'started':
            w.started = item
        elif kind == 'done':
            w.done = item
            w.cpu_s = item['client_cpu_s']
        elif kind == 'error':
            w.fail('failed', f'failed: {item}')


def _first_sentence(exc: BaseException) -> str:
    # Ray's messages run to a paragraph of possible causes; the first sentence says what happened.
    return f'{type(exc).__name__}: ' + ' '.join(str(exc).split()).split('. ', 1)[0][:200]


def _result(
    config: BenchConfig, target: dict[str, Any], placed: list[_Worker], cluster: RayCluster, interrupted: bool
) -> tuple[BenchResult, list[WorkerFailure]]:
    failures = [w.failure for w in placed if w.failure is not None]
    parts: list[BenchResult] = []
    entries: list[dict[str, Any]] = []
    for w in placed:
        part = _part(config, target, w)
        if part is not None:
            parts.append(part)
        if w.failure is None:
            stopped = w.done is not None and w.done['interrupted']
            w.status = ('interrupted' if interrupted else 'stopped') if stopped else 'ok'
        summary = part.summary if part is not None else None
        lag = summary.schedule_lag if summary is not None else None
        entries.append(
            {
                'worker': w.share.worker,
                'node': {'ip': w.info.get('node_ip'), 'hostname': w.info.get('hostname'),
                         'id': w.info.get('node_id')},
                'pid': w.info.get('pid'),
                'share': w.share.as_dict(),
                'status': w.status,
                'error': w.failure.reason if w.failure is not None else None,
                'requests': summary.requests if summary is not None else 0,
                'output_tokens': summary.output_tokens if summary is not None else 0,
                'client_cpu_s': w.cpu_s,
                'client_cpu_share': summary.client_cpu_share if summary is not None else None,
                'schedule_lag_p99_s': lag.p99 if lag is not None else None,
                'clock_offset_s': w.offset,
                'clock_offset_error_s': w.offset_error,
                'start_lag_s': w.started['lag_s'] if w.started is not None else None,
                'batches': w.batches,
                'max_batch_gap_s': w.max_gap,
                'modelkit_version': w.info.get('version'),
            }
        )  # fmt: skip
    if not parts:
        raise BenchError(
            '; '.join(f.describe() for f in failures) or 'no Ray worker started its measured phase'
        )
    nodes = len({w.info.get('node_id') for w in placed})
    client = dict(parts[0].client, processes=len(placed), ray={'address': cluster.address, 'nodes': nodes})
    status = 'incomplete' if failures else 'complete'
    result = merge(config, target, parts, client=client, workers=entries, status=status)
    # Workers stopped because another failed end "interrupted"; the run is so only after Ctrl-C.
    result.interrupted = interrupted
    return result, failures


def _part(config: BenchConfig, target: dict[str, Any], w: _Worker) -> BenchResult | None:
    """What one worker measured, on the driver's time line; `None` if it never started measuring."""
    if w.started is None or w.origin_wall is None:
        return None
    start = w.done['measured_start'] if w.done is not None else w.started['at']
    end = w.done['measured_end'] if w.done is not None else max(w.elapsed, start)
    cpu = w.cpu_s or 0.0
    summary = summarize(w.records, wall_time=max(end - start, 0.0), client_cpu_s=cpu)
    client = w.done['client'] if w.done is not None else {}
    interrupted = bool(w.done['interrupted']) if w.done is not None else True
    # The records' instants are relative to the worker's origin; its wall time, read on its own
    # clock, minus the clock offset puts every worker's records on the driver's one time line.
    origin = w.origin_wall - w.offset
    return BenchResult(
        config, target, w.records, summary, start, end, interrupted, client=client, origin=origin
    )
