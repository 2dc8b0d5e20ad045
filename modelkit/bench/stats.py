"""Pure statistics for the bench: percentiles, summaries, histograms, rates and Poisson arrivals.

Nothing here does I/O or reads a clock, so every function is unit-tested on plain numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = (
    'PERCENTILES',
    'Distribution',
    'describe',
    'histogram',
    'percentile',
    'poisson_gaps',
    'rate_series',
    'stream_rate',
)

PERCENTILES = (50.0, 90.0, 99.0)
"""The percentiles every report shows."""


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float:
    """The `q`-th percentile (0-100) of `values`, interpolating linearly between ranks.

    This is the "inclusive" definition (numpy's default, `statistics.quantiles(method='inclusive')`):
    percentile 0 is the minimum, 100 the maximum, and a single value is every percentile.
    """
    if not values:
        raise ValueError('percentile of an empty sequence')
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f'percentile must be between 0 and 100, got {q}')
    ordered = values if presorted else sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    # a + (b - a) * f keeps the result inside [a, b] even with float rounding, unlike a*(1-f) + b*f.
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class Distribution:
    """Count, mean, extremes and the report percentiles of a set of measurements."""

    count: int
    mean: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float

    def scaled(self, factor: float) -> Distribution:
        """The same distribution in other units (e.g. seconds to milliseconds)."""
        return Distribution(
            self.count,
            self.mean * factor,
            self.min * factor,
            self.p50 * factor,
            self.p90 * factor,
            self.p99 * factor,
            self.max * factor,
        )


def describe(values: Iterable[float]) -> Distribution | None:
    """Summarise `values`; `None` when there are none (a run where every request failed)."""
    ordered = sorted(values)
    if not ordered:
        return None
    p50, p90, p99 = (percentile(ordered, q, presorted=True) for q in PERCENTILES)
    # math.fsum: thousands of small gaps summed naively drift in the last digits.
    mean = math.fsum(ordered) / len(ordered)
    return Distribution(len(ordered), mean, ordered[0], p50, p90, p99, ordered[-1])


def histogram(
    values: Sequence[float], bins: int, *, low: float | None = None, high: float | None = None
) -> tuple[list[float], list[int]]:
    """Count `values` into `bins` equal-width bins; returns the `bins + 1` edges and the counts.

    Values outside `[low, high]` (when given) are clamped into the first or last bin, so a long
    tail still shows up instead of silently vanishing from the picture.
    """
    if bins < 1:
        raise ValueError(f'bins must be at least 1, got {bins}')
    if not values:
        return [0.0] * (bins + 1), [0] * bins
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    if hi <= lo:
        # Every value equal: centre one unit-wide range on it so the single bar is visible.
        lo, hi = lo - 0.5, lo + 0.5
    width = (hi - lo) / bins
    edges = [lo + width * i for i in range(bins)] + [hi]
    counts = [0] * bins
    for value in values:
        index = int((value - lo) / width)
        counts[min(max(index, 0), bins - 1)] += 1
    return edges, counts


def rate_series(
    events: Iterable[tuple[float, float]], start: float, end: float, bucket: float
) -> list[tuple[float, float]]:
    """Amount per second in consecutive `bucket`-second windows from `start` to `end`.

    `events` are `(time, amount)` pairs (a token arrival and how many tokens it carried). Returns
    `(window midpoint relative to start, rate)` pairs; the last window may be shorter and its rate
    is divided by its real width, so a half-full final window does not look like a drop.
    """
    if bucket <= 0:
        raise ValueError(f'bucket must be positive, got {bucket}')
    span = end - start
    if span <= 0:
        return []
    n = math.ceil(span / bucket)
    counts = [0.0] * n
    for t, amount in events:
        if start <= t <= end:
            counts[min(int((t - start) / bucket), n - 1)] += amount
    series = []
    for i, count in enumerate(counts):
        left = i * bucket
        width = min(bucket, span - left)
        if width <= 0:
            continue
        series.append((left + width / 2, count / width))
    return series


def stream_rate(tokens: int, first_event_at: float | None, last_event_at: float | None) -> float | None:
    """Decode speed of one stream: tokens per second between its first and last content event.

    The first token's wait is time to first token, not decoding, so it is left out: `n` tokens
    arriving over `n - 1` gaps. `None` when the stream had fewer than two events or no duration.
    """
    if tokens < 2 or first_event_at is None or last_event_at is None:
        return None
    duration = last_event_at - first_event_at
    if duration <= 0:
        return None
    return (tokens - 1) / duration


def poisson_gaps(rate: float, rng: random.Random) -> Iterator[float]:
    """Endless seconds between arrivals of a Poisson process with `rate` arrivals per second."""
    if rate <= 0 or math.isinf(rate) or math.isnan(rate):
        raise ValueError(f'rate must be a positive number of requests per second, got {rate}')
    while True:
        yield rng.expovariate(rate)
