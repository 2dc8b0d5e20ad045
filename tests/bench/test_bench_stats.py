"""The bench's pure statistics: percentiles, summaries, histograms, rates and Poisson arrivals."""

from __future__ import annotations

import math
import random
import statistics
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelkit.bench.stats import (
    describe,
    histogram,
    percentile,
    poisson_gaps,
    rate_series,
    stream_rate,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_percentile_of_known_values() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(values, 0) == 15.0
    assert percentile(values, 100) == 50.0
    assert percentile(values, 50) == 35.0
    # rank (5 - 1) * 0.4 = 1.6: 60% of the way from 20 to 35
    assert percentile(values, 40) == pytest.approx(29.0)
    assert percentile(values, 90) == pytest.approx(46.0)


def test_percentile_ignores_input_order_and_does_not_sort_in_place() -> None:
    values = [3.0, 1.0, 2.0]
    assert percentile(values, 50) == 2.0
    assert values == [3.0, 1.0, 2.0]


def test_percentile_of_one_value_is_that_value() -> None:
    assert [percentile([7.5], q) for q in (0, 50, 99, 100)] == [7.5, 7.5, 7.5, 7.5]


@pytest.mark.parametrize('q', [-1, 100.5, math.nan])
def test_percentile_rejects_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match='between 0 and 100'):
        percentile([1.0, 2.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match='empty'):
        percentile([], 50)


@given(st.lists(finite, min_size=2, max_size=200))
def test_percentile_agrees_with_statistics_inclusive_quantiles(values: list[float]) -> None:
    # statistics.quantiles(n=100, method='inclusive') gives percentiles 1..99 with the same definition.
    expected = statistics.quantiles(values, n=100, method='inclusive')
    for q in (1, 50, 90, 99):
        assert percentile(values, q) == pytest.approx(expected[q - 1], rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=100), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotonic_and_bounded(values: list[float], a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert min(values) <= percentile(values, lo) <= percentile(values, hi) <= max(values)


def test_describe_summarises() -> None:
    d = describe([0.1, 0.2, 0.3, 0.4])
    assert d is not None
    assert d.count == 4
    assert d.mean == pytest.approx(0.25)
    assert (d.min, d.max) == (0.1, 0.4)
    assert d.p50 == pytest.approx(0.25)
    assert d.p90 == pytest.approx(0.37)
    assert d.p99 == pytest.approx(0.397)
    ms = d.scaled(1000)
    assert ms.count == 4
    assert [ms.mean, ms.min, ms.p50, ms.p90, ms.p99, ms.max] == pytest.approx([250, 100, 250, 370, 397, 400])


def test_describe_of_nothing_is_none() -> None:
    assert describe([]) is None
    assert describe(iter(())) is None


def test_histogram_counts_every_value_once() -> None:
    edges, counts = histogram([0.0, 0.1, 0.5, 0.9, 1.0], 2)
    assert edges == [0.0, 0.5, 1.0]
    assert counts == [2, 3]


def test_histogram_clamps_values_outside_the_range_into_the_end_bins() -> None:
    _, counts = histogram([-5.0, 1.0, 2.0, 100.0], 4, low=0.0, high=4.0)
    assert counts == [1, 1, 1, 1]


def test_histogram_of_equal_values_draws_one_bar() -> None:
    edges, counts = histogram([3.0, 3.0, 3.0], 3)
    assert edges[0] < 3.0 < edges[-1]
    assert sum(counts) == 3


def test_histogram_of_nothing_and_bad_bins() -> None:
    assert histogram([], 2) == ([0.0, 0.0, 0.0], [0, 0])
    with pytest.raises(ValueError, match='bins'):
        histogram([1.0], 0)


@given(st.lists(finite, min_size=1, max_size=100), st.integers(1, 50))
def test_histogram_total_is_the_count(values: list[float], bins: int) -> None:
    edges, counts = histogram(values, bins)
    assert len(edges) == bins + 1
    assert sum(counts) == len(values)


def test_rate_series_windows_and_partial_last_window() -> None:
    events = [(0.1, 1.0), (0.2, 1.0), (0.6, 1.0), (1.1, 2.0)]
    series = rate_series(events, start=0.0, end=1.25, bucket=0.5)
    assert [t for t, _ in series] == pytest.approx([0.25, 0.75, 1.125])
    # 2 tokens in the first half second, 1 in the second, 2 in the last quarter second.
    assert [r for _, r in series] == pytest.approx([4.0, 2.0, 8.0])


def test_rate_series_ignores_events_outside_the_run_and_empty_spans() -> None:
    assert rate_series([(5.0, 1.0)], start=0.0, end=1.0, bucket=0.5) == [(0.25, 0.0), (0.75, 0.0)]
    assert rate_series([(0.0, 1.0)], start=1.0, end=1.0, bucket=0.5) == []
    with pytest.raises(ValueError, match='bucket'):
        rate_series([], start=0.0, end=1.0, bucket=0.0)


def test_stream_rate_leaves_out_the_wait_for_the_first_token() -> None:
    # 11 tokens, the last 10 arriving over one second after the first: 10 tokens/s of decoding.
    assert stream_rate(11, 2.0, 3.0) == pytest.approx(10.0)
    assert stream_rate(1, 2.0, 3.0) is None
    assert stream_rate(5, None, 3.0) is None
    assert stream_rate(5, 3.0, 3.0) is None


def test_poisson_gaps_have_the_asked_mean_and_are_repeatable() -> None:
    gaps = list(islice(poisson_gaps(50.0, random.Random(7)), 20_000))
    assert all(g >= 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / 50.0, rel=0.05)
    # exponential: the standard deviation equals the mean
    assert statistics.pstdev(gaps) == pytest.approx(1 / 50.0, rel=0.05)
    assert list(islice(poisson_gaps(50.0, random.Random(7)), 5)) == gaps[:5]


@pytest.mark.parametrize('rate', [0.0, -1.0, math.inf, math.nan])
def test_poisson_gaps_reject_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match='rate'):
        next(poisson_gaps(rate, random.Random(0)))
