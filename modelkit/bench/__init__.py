"""`modelkit bench`: measure streamed-response latency and throughput against any model or the emulator.

`run_bench(model, BenchConfig(...))` sends the requests and returns every per-request record
with a `BenchSummary`; `report.format_table`, `report.write_json` and `plot.write_svg` present it.
The statistics are small pure functions in `modelkit.bench.stats`.
"""

from __future__ import annotations

from .harness import (
    BenchConfig,
    BenchError,
    BenchResult,
    BenchSummary,
    Progress,
    RequestRecord,
    run_bench,
    summarize,
)

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
