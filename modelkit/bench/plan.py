"""Splitting one bench run over several workers, and merging what they measured. Pure: no I/O.

`split_plan(config, n)` gives each worker its `Share`; `merge(config, target, parts)` turns the
workers' results back into the one result a single process would report, computed on the raw
per-request records (exact percentiles, never an average of percentiles). `--processes` uses both;
so can any other runner (Ray actors): a share is plain picklable data.

- Closed loop: concurrency, request count and warmup are each split as evenly as possible (shares
  differ by at most one), so the aggregate load is the single-process load.
- Open loop (Poisson arrivals): every worker walks the same seeded global schedule and keeps the
  arrivals a seeded hash assigns to it. Independent thinning of a Poisson process gives Poisson
  processes, and the union of the shares is exactly the single-process schedule.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .harness import BenchConfig, BenchResult, RequestRecord

__all__ = ('ArrivalFilter', 'Share', 'merge', 'split_evenly', 'split_plan')


@dataclass(frozen=True, slots=True)
class ArrivalFilter:
    """The arrivals of the global Poisson schedule that worker `worker` of `workers` sends."""

    worker: int
    workers: int
    seed: int

    def owner(self, index: int) -> int:
        """The worker that sends arrival `index`: a seeded hash, the same in every process."""
        digest = hashlib.blake2b(f'{self.seed}:{index}'.encode(), digest_size=8).digest()
        return int.from_bytes(digest, 'big') % self.workers

    def keeps(self) -> Callable[[int], bool]:
        """A predicate: whether this worker sends arrival `index`."""
        worker = self.worker
        owner = self.owner
        return lambda index: owner(index) == worker


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's part of a run."""

    worker: int
    workers: int
    concurrency: int | None
    """Closed loop: this worker's streams. Open loop: its in-flight cap (`None`: no cap)."""
    requests: int | None
    """Closed loop: this worker's measured requests. Open loop: the global schedule's length."""
    warmup: int
    arrivals: ArrivalFilter | None
    """Open loop: which arrivals of the global schedule it keeps."""

    def config(self, whole: BenchConfig) -> BenchConfig:
        """The whole run's configuration narrowed to this share."""
        return dataclasses.replace(
            whole,
            concurrency=self.concurrency,
            requests=self.requests,
            warmup=self.warmup,
            arrivals=self.arrivals,
        )

    def as_dict(self) -> dict[str, Any]:
        """The share for the JSON report."""
        return {
            'worker': self.worker,
            'concurrency': self.concurrency,
            'requests': self.requests if self.arrivals is None else None,
            'warmup': self.warmup,
            'arrivals': f'1 in {self.workers} of the seeded schedule' if self.arrivals is not None else None,
        }


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` in `parts` whole shares that add up to it and differ by at most one."""
    whole, extra = divmod(total, parts)
    return [whole + (1 if i < extra else 0) for i in range(parts)]


def split_plan(config: BenchConfig, workers: int) -> list[Share]:
    """Each worker's share of the run `config` describes (see the module docstring)."""
    if workers < 1:
        raise ValueError(f'a run needs at least one worker, not {workers}')
    requests = config.effective_requests()
    concurrency = config.effective_concurrency()
    warmups = split_evenly(config.effective_warmup(), workers)
    if config.rate is None:
        assert concurrency is not None  # a closed loop always has its worker count
        if concurrency < workers:
            raise ValueError(
                f'{workers} processes need a concurrency of at least {workers} (it is {concurrency}): '
                'each process runs at least one stream'
            )
        streams = split_evenly(concurrency, workers)
        counts: list[int | None] = (
            list(split_evenly(requests, workers)) if requests is not None else [None] * workers
        )
        return [Share(i, workers, streams[i], counts[i], warmups[i], None) for i in range(workers)]
    caps: list[int | None]
    if concurrency is None:
        caps = [None] * workers
    elif concurrency < workers:
        raise ValueError(
            f'{workers} processes need --concurrency of at least {workers} (it is {concurrency}): '
            'the in-flight cap is split between them'
        )
    else:
        caps = list(split_evenly(concurrency, workers))
    return [
        Share(i, workers, caps[i], requests, warmups[i], ArrivalFilter(i, workers, config.seed))
        for i in range(workers)
    ]


def merge(
    config: BenchConfig,
    target: dict[str, Any],
    parts: Sequence[BenchResult],
    *,
    client: dict[str, Any] | None = None,
    workers: list[dict[str, Any]] | None = None,
    status: str = 'complete',
) -> BenchResult:
    """One result from the workers' results, as a single process would report it.

    Each part's instants are relative to its `origin` (`time.perf_counter()` at its start): on one
    machine every process reads the same monotonic clock, so shifting by the origins puts all
    records on one time line. The summary is computed on the concatenated raw records; client
    CPU is the sum of the workers'. (Across machines a runner first corrects each origin by its
    clock offset.)
    """
    from .harness import BenchResult, summarize

    if not parts:
        raise ValueError('nothing to merge: no worker returned a result')
    base = min(part.origin for part in parts)
    records: list[RequestRecord] = []
    starts: list[float] = []
    ends: list[float] = []
    for part in parts:
        shift = part.origin - base
        starts.append(part.measured_start + shift)
        ends.append(part.measured_end + shift)
        records.extend(_shifted(r, shift) for r in part.records)
    measured_start, measured_end = min(starts), max(ends)
    summary = summarize(
        records,
        wall_time=max(measured_end - measured_start, 0.0),
        client_cpu_s=sum(part.summary.client_cpu_s for part in parts),
    )
    waits = [part.summary.client_cpu_wait_s for part in parts]
    if all(wait is not None for wait in waits):
        summary.client_cpu_wait_s = sum(wait for wait in waits if wait is not None)
    return BenchResult(
        config,
        dict(target),
        records,
        summary,
        measured_start,
        measured_end,
        any(part.interrupted for part in parts),
        client=dict(client if client is not None else parts[0].client),
        workers=list(workers or []),
        status=status,
        origin=base,
    )


def _shifted(record: RequestRecord, shift: float) -> RequestRecord:
    if not shift:
        return record
    moved = dataclasses.replace(record, itl=list(record.itl))
    moved.scheduled_at += shift
    moved.sent_at += shift
    if moved.first_event_at is not None:
        moved.first_event_at += shift
    if moved.last_event_at is not None:
        moved.last_event_at += shift
    return moved
