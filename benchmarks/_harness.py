"""Timing, results and the printed tables shared by every benchmark.

Contenders of one case are timed round-robin (floor, A, B, floor, A, B, ...) so that drift in the
machine (frequency scaling, a noisy neighbour) hits them alike; each figure is a median.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

__all__ = (
    'RUN_TIMEOUT_S',
    'Result',
    'Unavailable',
    'print_table',
    'runs_within',
    'time_round_robin',
    'time_round_robin_async',
)


class Unavailable(Exception):
    """A contender cannot run here: its package is not installed or its module has not landed."""


@dataclass
class Result:
    """One contender in one case: raw run times, and how it compares with that case's floor."""

    benchmark: str
    case: str
    contender: str
    runs: list[float] = field(default_factory=list)
    """Seconds per run."""
    units: int = 0
    """Events (or imports) per run, for the per-unit column."""
    target: float | None = None
    """Largest allowed ratio to the floor, where this contender has one."""
    status: str = ''
    """Empty when measured; else why not (`not installed`, `error: ...`)."""
    floor_median: float | None = None
    is_floor: bool = False
    max_runs: int | None = None
    """Fewer runs than the others, for a contender so slow that it would blow the time budget."""
    wall_runs: list[float] = field(default_factory=list)
    """Wall-clock seconds per run, where `runs` holds something else (CPU time); shown when present."""

    @property
    def median(self) -> float | None:
        """Median seconds per run, or None when not measured."""
        return statistics.median(self.runs) if self.runs else None

    @property
    def ratio(self) -> float | None:
        """Median over the floor's median in the same run of the same case."""
        median = self.median
        if median is None or not self.floor_median:
            return None
        return median / self.floor_median

    @property
    def verdict(self) -> str:
        """PASS or MISS against the target; empty where there is no target."""
        ratio = self.ratio
        if self.target is None or ratio is None:
            return ''
        return 'PASS' if ratio <= self.target else 'MISS'

    @property
    def wall_median(self) -> float | None:
        """Median wall-clock seconds per run, or None when not recorded."""
        return statistics.median(self.wall_runs) if self.wall_runs else None

    def as_json(self) -> dict[str, Any]:
        """Raw numbers plus the derived ones, for `--json`."""
        data = asdict(self)
        data.update(median=self.median, ratio=self.ratio, verdict=self.verdict)
        if self.wall_runs:
            data.update(wall_median=self.wall_median)
        return data


def _prepare() -> None:
    # Start every run with no garbage left by the previous contender, so none pays for another's,
    # and move what survives (the benchmark's own fixtures: the stream, its 20,000 parsed payloads
    # for checking) out of the collector's sight, so a contender that allocates GC-tracked objects
    # is not charged for traversing them.
    gc.collect()
    gc.freeze()


def time_round_robin(contenders: Sequence[tuple[Result, Callable[[], object] | None]], repeats: int) -> None:
    """Run each available contender `repeats` times, interleaved, appending seconds to its `runs`."""
    for _ in range(repeats):
        for result, run in contenders:
            if run is None or result.status or _enough(result):
                continue
            _prepare()
            start = time.perf_counter()
            try:
                run()
            except Exception as exc:  # a broken contender is reported, never fatal
                result.status = _error_status(exc)
                result.runs.clear()
                continue
            result.runs.append(time.perf_counter() - start)


RUN_TIMEOUT_S = 120.0
"""One async run longer than this is a hang (LiteLLM, the slowest, needs ~10 s): report, move on."""


async def time_round_robin_async(
    contenders: Sequence[tuple[Result, Callable[[], Awaitable[object]] | None]], repeats: int
) -> None:
    """The async twin of `time_round_robin`, for contenders that run on the event loop."""
    for _ in range(repeats):
        for result, run in contenders:
            if run is None or result.status or _enough(result):
                continue
            _prepare()
            start = time.perf_counter()
            try:
                with anyio.fail_after(RUN_TIMEOUT_S):
                    await run()
            except Exception as exc:
                result.status = _error_status(exc)
                result.runs.clear()
                continue
            result.runs.append(time.perf_counter() - start)


def runs_within(budget_s: float, one_run_s: float, repeats: int, at_least: int) -> int:
    """How many runs fit in `budget_s` when one takes `one_run_s`, between `at_least` and `repeats`."""
    fit = int(budget_s / one_run_s) if one_run_s > 0 else repeats
    return max(at_least, min(repeats, fit))


def _enough(result: Result) -> bool:
    return result.max_runs is not None and len(result.runs) >= result.max_runs


def _error_status(exc: BaseException) -> str:
    text = f'{type(exc).__name__}: {exc}'.replace('\n', ' ')
    return f'error: {text[:160]}'


def set_floor(results: Sequence[Result]) -> None:
    """Point every result of a case at that case's floor median."""
    floors = {r.case: r.median for r in results if r.is_floor}
    for r in results:
        r.floor_median = floors.get(r.case)


def print_table(
    title: str,
    results: Sequence[Result],
    *,
    unit: str | None = 'event',
    median_label: str = 'median ms',
    per_unit_label: str | None = None,
    wall_label: str = 'wall s',
) -> None:
    """A fixed-width table: median, per-unit cost (unless `unit` is None), ratio to floor, target, verdict.

    A `wall s` column follows the median when any result recorded wall-clock runs (`wall ms` as
    `wall_label` shows it in milliseconds).
    """
    set_floor(results)
    print()
    print(title)
    wall = any(r.wall_runs for r in results)
    per_unit_header = per_unit_label or f'µs/{unit}'
    headers: tuple[str, ...] = (
        'case',
        'contender',
        median_label,
        wall_label,
        per_unit_header,
        'x floor',
        'target',
        'result',
    )
    rows: list[tuple[str, ...]] = []
    for r in results:
        median = r.median
        if median is None:
            rows.append((r.case, r.contender, '-', '-', '-', '-', _target(r), r.status or 'not run'))
            continue
        per_unit = f'{median / r.units * 1e6:.2f}' if r.units else '-'
        ratio = r.ratio
        wall_median = r.wall_median
        rows.append(
            (
                r.case,
                r.contender,
                f'{median * 1e3:.1f}',
                _wall(wall_median, wall_label),
                per_unit,
                f'{ratio:.2f}' if ratio is not None else '-',
                _target(r),
                r.verdict or ('(floor)' if r.is_floor else ''),
            )
        )
    keep = [i for i in range(len(headers)) if (i != 3 or wall) and (i != 4 or unit is not None)]
    headers = tuple(headers[i] for i in keep)
    rows = [tuple(row[i] for i in keep) for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    numeric = set(range(2, len(headers) - 2))
    lines = [headers, tuple('-' * w for w in widths), *rows]
    for line in lines:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ]
        print('  '.join(cells).rstrip())


def _wall(seconds: float | None, label: str) -> str:
    if seconds is None:
        return '-'
    return f'{seconds * 1e3:.1f}' if label.endswith('ms') else f'{seconds:.2f}'


def _target(r: Result) -> str:
    return f'<= {r.target:g}x' if r.target is not None else ''
