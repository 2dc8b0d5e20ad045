"""The report names the stack it measured and says when the client itself fell behind."""

from __future__ import annotations

from modelkit.bench import BenchConfig, BenchResult, RequestRecord, summarize
from modelkit.bench.report import SCHEDULE_LAG_WARNING_S, format_table


def result_with_lags(lags: list[float]) -> BenchResult:
    records = []
    for i, lag in enumerate(lags):
        r = RequestRecord(i, False, scheduled_at=i * 0.1, sent_at=i * 0.1 + lag, ttft=0.01, e2e=0.02)
        r.first_event_at, r.last_event_at, r.events, r.output_tokens = (
            r.sent_at + 0.01,
            r.sent_at + 0.02,
            2,
            2,
        )
        r.itl = [0.01]
        records.append(r)
    summary = summarize(records, wall_time=10.0, client_cpu_s=1.0)
    client = {'loop': 'uvloop', 'transport': 'aiohttp', 'processes': 2}
    return BenchResult(BenchConfig(), {}, records, summary, 0.0, 10.0, client=client)


def test_the_report_names_loop_transport_and_processes() -> None:
    table = format_table(result_with_lags([0.0] * 10))
    assert 'client: uvloop event loop, aiohttp transport, 2 processes' in table.splitlines()


def test_a_late_start_p99_above_the_bound_warns_that_the_client_is_saturated() -> None:
    late = format_table(result_with_lags([0.0] * 98 + [SCHEDULE_LAG_WARNING_S * 3] * 2))
    on_time = format_table(result_with_lags([SCHEDULE_LAG_WARNING_S / 10] * 100))
    assert 'warning: the client is saturated' in late
    assert 'warning: the client is saturated' not in on_time
    assert any(line.startswith('schedule lag') for line in on_time.splitlines())


def test_schedule_lag_is_how_late_a_request_started() -> None:
    r = RequestRecord(0, False, scheduled_at=1.0, sent_at=1.25)
    assert r.schedule_lag == 0.25
    assert r.as_dict()['schedule_lag_s'] == 0.25
