"""The --processes plan and merge, on plain data: shares add up, and merging loses nothing."""

from __future__ import annotations

import random
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelkit.bench import BenchConfig, BenchResult, RequestRecord, summarize
from modelkit.bench.plan import ArrivalFilter, merge, split_evenly, split_plan
from modelkit.bench.stats import poisson_gaps


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_even_shares_add_up_and_differ_by_at_most_one(total: int, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert len(shares) == parts
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


@given(st.integers(1, 16), st.integers(0, 64), st.integers(1, 2_000), st.integers(0, 100))
def test_a_closed_loop_plan_splits_streams_requests_and_warmup(
    workers: int, extra: int, requests: int, warmup: int
) -> None:
    config = BenchConfig(requests=requests, concurrency=workers + extra, warmup=warmup)
    shares = split_plan(config, workers)
    for field, total in (('concurrency', workers + extra), ('requests', requests), ('warmup', warmup)):
        values = [getattr(share, field) for share in shares]
        assert sum(values) == total
        assert max(values) - min(values) <= 1
    assert all(share.arrivals is None and share.concurrency >= 1 for share in shares)  # type: ignore[operator]


def test_a_closed_loop_needs_a_stream_per_process() -> None:
    with pytest.raises(ValueError, match='concurrency of at least 4'):
        split_plan(BenchConfig(concurrency=3), 4)


@given(st.integers(1, 8), st.integers(0, 2**32), st.floats(1.0, 500.0))
def test_poisson_shares_are_a_partition_of_the_one_seeded_schedule(
    workers: int, seed: int, rate: float
) -> None:
    config = BenchConfig(requests=300, rate=rate, seed=seed)
    shares = split_plan(config, workers)
    schedule = list(islice(poisson_gaps(rate, random.Random(seed)), 300))
    kept = [
        [i for i in range(len(schedule)) if share.arrivals and share.arrivals.keeps()(i)] for share in shares
    ]
    assert sorted(i for part in kept for i in part) == list(range(300))  # every arrival exactly once
    assert all(share.requests == 300 for share in shares)  # each walks the whole global schedule


def test_thinning_gives_each_process_about_its_share() -> None:
    counts = [0, 0, 0]
    for index in range(30_000):
        counts[ArrivalFilter(0, 3, seed=7).owner(index)] += 1
    assert all(9_500 < n < 10_500 for n in counts)


def records_strategy() -> st.SearchStrategy[list[RequestRecord]]:
    seconds = st.floats(0.0, 100.0, allow_nan=False)

    @st.composite
    def record(draw: st.DrawFn) -> RequestRecord:
        sent = draw(seconds)
        failed = draw(st.booleans())
        r = RequestRecord(0, draw(st.booleans()), sent - draw(st.floats(0.0, 0.1)), sent)
        r.e2e = draw(st.floats(0.001, 10.0))
        if failed:
            r.error, r.error_message = 'ModelHTTPError 500', 'boom'
            return r
        r.ttft = draw(st.floats(0.0, 5.0))
        r.itl = draw(st.lists(st.floats(0.0, 0.5), max_size=8))
        r.events = len(r.itl) + 1
        r.output_tokens = r.events
        r.first_event_at = sent + r.ttft
        r.last_event_at = r.first_event_at + sum(r.itl)
        return r

    return st.lists(record(), max_size=30)


@given(
    st.lists(st.tuples(records_strategy(), st.floats(0.0, 0.05), st.floats(0.0, 5.0)), min_size=1, max_size=4)
)
def test_the_merged_summary_is_the_summary_of_the_concatenated_records(
    parts: list[tuple[list[RequestRecord], float, float]],
) -> None:
    config = BenchConfig()
    results = []
    for records, cpu, start in parts:
        summary = summarize(records, wall_time=10.0, client_cpu_s=cpu)
        # Same origin for every part: the records need no shifting, so the concatenation is exact.
        results.append(BenchResult(config, {}, records, summary, start, start + 10.0, origin=1000.0))
    merged = merge(config, {}, results)
    every = [r for records, _, _ in parts for r in records]
    start = min(s for _, _, s in parts)
    expected = summarize(every, wall_time=max(s for _, _, s in parts) + 10.0 - start, client_cpu_s=0.0)
    got = merged.summary
    assert got.client_cpu_s == pytest.approx(sum(cpu for _, cpu, _ in parts))
    got.client_cpu_s = 0.0
    assert got == expected
    assert merged.records == every


def test_merge_puts_every_worker_on_one_time_line() -> None:
    config = BenchConfig()
    first = RequestRecord(0, False, 1.0, 1.0, ttft=0.1, e2e=0.2, first_event_at=1.1, last_event_at=1.2)
    second = RequestRecord(0, False, 1.0, 1.0, ttft=0.1, e2e=0.2, first_event_at=1.1, last_event_at=1.2)
    parts = [
        BenchResult(config, {}, [r], summarize([r], wall_time=1.0, client_cpu_s=0.5), 0.5, 1.5, origin=origin)
        for r, origin in ((first, 100.0), (second, 100.25))
    ]
    merged = merge(config, {}, parts)
    assert [r.sent_at for r in merged.records] == [1.0, 1.25]
    assert [r.first_event_at for r in merged.records] == [1.1, 1.35]
    assert (merged.measured_start, merged.measured_end) == (0.5, 1.75)
    assert merged.summary.client_cpu_s == 1.0
    assert second.sent_at == 1.0  # the worker's own record is left as it was
