"""A picture of a bench run as a self-contained SVG, drawn with no plotting library.

Four panels: histograms with a cumulative curve for time to first token, inter-token latency and
end-to-end latency (p50/p90/p99 marked), and total output tokens per second over the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .harness import BenchResult
from .stats import histogram, percentile, rate_series

__all__ = ('Svg', 'nice_ticks', 'render_svg', 'timeline_window', 'write_svg')

WIDTH, HEIGHT = 1000, 680
PANEL_W, PANEL_H = 480, 300
MARGIN = {'left': 62, 'right': 46, 'top': 48, 'bottom': 42}
HISTOGRAM_BINS = 40
TAIL_PERCENTILE = 99.5
"""Histograms span up to this percentile (a little beyond); rarer outliers land in the last bar, so
one stray second does not squash every other bar into a sliver."""
TIMELINE_BUCKETS = 60
"""At most this many windows on the throughput-over-time line: enough to see ramps and stalls."""
LOG_AXIS_MEDIAN_SHARE = 0.1
"""The inter-token panel switches to a log axis when the median gap sits in the first tenth of
the plotted range: the bulk of the gaps then spreads over too little of a linear axis (the
first bars or two) to show its shape, while a log axis gives the bulk and the tail equal room."""

BAR = '#4c78a8'
CURVE = '#f58518'
MARKS = {'p50': '#54a24b', 'p90': '#b279a2', 'p99': '#e45756'}
INK = '#333333'
GRID = '#e6e6e6'


class Svg:
    """A minimal SVG document builder: shapes and text appended in drawing order."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._items: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, **attrs: str) -> None:
        """A filled rectangle."""
        self._add('rect', x=_n(x), y=_n(y), width=_n(max(w, 0.0)), height=_n(max(h, 0.0)), fill=fill, **attrs)

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0, **attrs: str
    ) -> None:
        """A straight line."""
        self._add(
            'line',
            x1=_n(x1),
            y1=_n(y1),
            x2=_n(x2),
            y2=_n(y2),
            stroke=stroke,
            **{'stroke-width': _n(width)},
            **attrs,
        )

    def polyline(
        self,
        points: Sequence[tuple[float, float]],
        stroke: str,
        width: float = 1.5,
        fill: str = 'none',
        **attrs: str,
    ) -> None:
        """A line through `points` (a filled shape when `fill` is set)."""
        if points:
            pts = ' '.join(f'{_n(x)},{_n(y)}' for x, y in points)
            style = {'stroke-width': _n(width), 'stroke-linejoin': 'round'}
            self._add('polyline', points=pts, fill=fill, stroke=stroke, **style, **attrs)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        size: int = 11,
        anchor: str = 'start',
        fill: str = INK,
        **attrs: str,
    ) -> None:
        """Text with its baseline at `y`."""
        attributes = _attrs(
            x=_n(x), y=_n(y), **{'font-size': str(size), 'text-anchor': anchor, 'fill': fill}, **attrs
        )
        self._items.append(f'<text {attributes}>{escape(content)}</text>')

    def spans(
        self, x: float, y: float, pieces: Sequence[tuple[str, str]], *, size: int = 11, anchor: str = 'start'
    ) -> None:
        """One line of text in several colours: `(text, colour)` pieces, laid out by the renderer."""
        inner = ''.join(f'<tspan fill={quoteattr(colour)}>{escape(text)}</tspan>' for text, colour in pieces)
        attributes = _attrs(x=_n(x), y=_n(y), **{'font-size': str(size), 'text-anchor': anchor})
        # preserve: the spaces between pieces are the layout, and SVG would collapse them.
        self._items.append(f'<text {attributes} xml:space="preserve">{inner}</text>')

    def render(self) -> str:
        """The document as text."""
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family="Helvetica, Arial, sans-serif">'
        )
        return '\n'.join([head, *self._items, '</svg>']) + '\n'

    def _add(self, tag: str, **attrs: str) -> None:
        self._items.append(f'<{tag} {_attrs(**attrs)}/>')


def _attrs(**attrs: str) -> str:
    return ' '.join(f'{k.replace("_", "-")}={quoteattr(v)}' for k, v in attrs.items())


def _n(value: float) -> str:
    # Two decimals are sub-pixel; shorter numbers keep the file small and diffable.
    return f'{value:.2f}'.rstrip('0').rstrip('.')


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering `[low, high]`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _fmt_tick(value: float) -> str:
    if value == 0:
        return '0'
    if abs(value) >= 1000:
        return f'{value:,.0f}'
    if abs(value) >= 10:
        return f'{value:.0f}'
    return f'{value:.3g}'


def _fmt_ms(value: float) -> str:
    return f'{value:,.0f} ms' if value >= 100 else f'{value:.3g} ms'


@dataclass(frozen=True, slots=True)
class _Panel:
    x: float
    y: float

    @property
    def left(self) -> float:
        return self.x + MARGIN['left']

    @property
    def right(self) -> float:
        return self.x + PANEL_W - MARGIN['right']

    @property
    def top(self) -> float:
        return self.y + MARGIN['top']

    @property
    def bottom(self) -> float:
        return self.y + PANEL_H - MARGIN['bottom']


def _axes(
    svg: Svg,
    p: _Panel,
    title: str,
    xlabel: str,
    xticks: list[float],
    x_of: _Scale,
    ylabel: str,
    yticks: list[float],
    y_of: _Scale,
    *,
    tick_label: Callable[[float], str] | None = None,
) -> None:
    svg.text(p.left, p.y + 20, title, size=14, font_weight='bold')
    for t in yticks:
        y = y_of(t)
        svg.line(p.left, y, p.right, y, GRID)
        svg.text(p.left - 6, y + 4, _fmt_tick(t), anchor='end')
    for t in xticks:
        x = x_of(t)
        svg.line(x, p.bottom, x, p.bottom + 4, INK)
        svg.text(x, p.bottom + 16, (tick_label or _fmt_tick)(t), anchor='middle')
    svg.line(p.left, p.bottom, p.right, p.bottom, INK)
    svg.line(p.left, p.top, p.left, p.bottom, INK)
    svg.text((p.left + p.right) / 2, p.bottom + 34, xlabel, anchor='middle')
    cx, cy = p.x + 14, (p.top + p.bottom) / 2
    svg.text(cx, cy, ylabel, anchor='middle', transform=f'rotate(-90 {_n(cx)} {_n(cy)})')


class _Scale:
    def __init__(self, lo: float, hi: float, out_lo: float, out_hi: float) -> None:
        self.lo, self.hi, self.out_lo, self.out_hi = lo, hi if hi > lo else lo + 1.0, out_lo, out_hi

    def __call__(self, value: float) -> float:
        return self.out_lo + (value - self.lo) / (self.hi - self.lo) * (self.out_hi - self.out_lo)


def _empty(svg: Svg, p: _Panel, title: str) -> None:
    svg.text(p.left, p.y + 20, title, size=14, font_weight='bold')
    svg.text(
        (p.left + p.right) / 2,
        (p.top + p.bottom) / 2,
        'no successful requests',
        anchor='middle',
        fill='#999999',
    )


def _histogram_panel(
    svg: Svg, p: _Panel, title: str, values_ms: list[float], *, log_ok: bool = False
) -> None:
    if not values_ms:
        _empty(svg, p, title)
        return
    ordered = sorted(values_ms)
    lo = ordered[0]
    hi = max(percentile(ordered, TAIL_PERCENTILE, presorted=True) * 1.05, lo)
    median = percentile(ordered, 50.0, presorted=True)
    log = log_ok and hi > lo and median - lo < (hi - lo) * LOG_AXIS_MEDIAN_SHARE
    if log:
        # Zero-length gaps (events parsed from one read) have no logarithm: shown at the floor.
        floor = min((v for v in ordered if v > 0), default=1e-3)
        lo, hi = max(lo, floor), max(hi, floor * 10)
        ordered = [math.log10(max(v, lo)) for v in ordered]
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    edges, counts = histogram(ordered, HISTOGRAM_BINS, low=lo, high=hi)
    xticks = _log_ticks(lo, hi) if log else nice_ticks(lo, hi)
    x_lo, x_hi = (lo, hi) if log else (min([lo, *xticks]), max([hi, *xticks]))
    x_of = _Scale(x_lo, x_hi, p.left, p.right)
    top_count = max(counts)
    yticks = nice_ticks(0, top_count * 1.08, 4)  # headroom: the tallest bar never touches the frame
    y_max = max([top_count * 1.08, *yticks])
    y_of = _Scale(0, y_max, p.bottom, p.top)
    _axes(
        svg,
        p,
        title,
        'milliseconds (log scale)' if log else 'milliseconds',
        xticks,
        x_of,
        'requests' if 'inter-token' not in title else 'gaps',
        yticks,
        y_of,
        tick_label=(lambda t: _fmt_tick(10**t)) if log else _fmt_tick,
    )
    for left, right, count in zip(edges, edges[1:], counts, strict=False):
        if count:
            x0, x1 = x_of(left), x_of(right)
            svg.rect(
                x0 + 0.5, y_of(count), max(x1 - x0 - 1.0, 1.0), p.bottom - y_of(count), BAR, opacity='0.85'
            )
    # Cumulative share on the right-hand axis: where the bars are too small to read, the curve is not.
    n = len(ordered)
    cdf_of = _Scale(0.0, 1.0, p.bottom, p.top)
    step = max(1, n // 400)
    points = [
        (x_of(min(v, hi)), cdf_of((i + 1) / n)) for i, v in enumerate(ordered) if i % step == 0 or i == n - 1
    ]
    svg.polyline([(x_of(lo), p.bottom), *points], CURVE)
    for share in (0.0, 0.5, 1.0):
        svg.text(p.right + 6, cdf_of(share) + 4, f'{share:.0%}', fill=CURVE)
    legend: list[tuple[str, str]] = []
    for name, q in (('p50', 50.0), ('p90', 90.0), ('p99', 99.0)):
        value = percentile(ordered, q, presorted=True)
        x = x_of(min(value, hi))
        svg.line(x, p.top, x, p.bottom, MARKS[name], 1.2, stroke_dasharray='4 3')
        legend.append((f'{name} {_fmt_ms(10**value if log else value)}   ', MARKS[name]))
    legend.append(('cumulative share (right axis)', CURVE))
    # Under the title, not on the plot, so the labels never sit on top of bars or the curve.
    svg.spans(p.left, p.y + 37, legend)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Tick positions (log10 of the values) at 1, 2 and 5 times each power of ten in `[lo, hi]`."""
    ticks = []
    for power in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            t = power + math.log10(m)
            if lo - 1e-9 <= t <= hi + 1e-9:
                ticks.append(t)
    if len(ticks) > 8:  # many decades: the powers of ten alone
        ticks = [t for t in ticks if abs(t - round(t)) < 1e-9]
    return ticks


def timeline_window(result: BenchResult) -> float:
    """Seconds per window of the throughput-over-time line.

    A closed loop repeats a pattern: each stream sends, waits for its first token, receives at the
    server's pace, and sends again, one cycle per end-to-end latency. Windows of an arbitrary width
    catch a varying number of those cycles and draw a sawtooth that is not in the data. So each
    window spans a whole number of median end-to-end latencies (and so a whole number of token
    gaps at a steady pace), at most `TIMELINE_BUCKETS` windows over the run.
    """
    span = result.measured_end - result.measured_start
    base = span / TIMELINE_BUCKETS
    e2e = sorted(r.e2e for r in result.records if r.ok and not r.warmup and r.e2e)
    if not e2e:
        return base
    cycle = percentile(e2e, 50.0, presorted=True)
    if cycle <= 0 or cycle > span:
        return base
    return cycle * max(1, math.ceil(base / cycle))


def _timeline_panel(svg: Svg, p: _Panel, result: BenchResult) -> None:
    title = 'output tokens/s, all streams'
    arrivals = [a for r in result.records if r.ok and not r.warmup for a in r.token_arrivals()]
    start, end = result.measured_start, result.measured_end
    if not arrivals or end <= start:
        _empty(svg, p, title)
        return
    series = rate_series(arrivals, start, end, timeline_window(result))
    span = end - start
    xticks = nice_ticks(0.0, span)
    x_of = _Scale(0.0, max([span, *xticks]), p.left, p.right)
    top = max(rate for _, rate in series)
    yticks = nice_ticks(0.0, top * 1.08, 4)
    y_of = _Scale(0.0, max([top * 1.08, *yticks]), p.bottom, p.top)
    _axes(svg, p, title, 'seconds since the measured phase began', xticks, x_of, 'tokens/s', yticks, y_of)
    points = [(x_of(t), y_of(rate)) for t, rate in series]
    area = [(points[0][0], p.bottom), *points, (points[-1][0], p.bottom)]
    svg.polyline(area, 'none', 0, fill=BAR, fill_opacity='0.15')
    svg.polyline(points, BAR, 1.8)
    mean = result.summary.tokens_per_s
    svg.line(p.left, y_of(mean), p.right, y_of(mean), CURVE, 1.2, stroke_dasharray='5 3')
    svg.text(p.left, p.y + 37, f'mean {mean:,.0f} tokens/s (dashed)', fill=CURVE)


def render_svg(result: BenchResult) -> str:
    """The SVG picture of a run's latency distributions and throughput over time."""
    svg = Svg(WIDTH, HEIGHT)
    svg.rect(0, 0, WIDTH, HEIGHT, '#ffffff')
    s = result.summary
    heading = (
        f'modelkit bench: {s.succeeded:,} ok / {s.requests:,} requests, '
        f'{s.tokens_per_s:,.0f} output tokens/s, {s.requests_per_s:,.1f} requests/s'
    )
    svg.text(20, 30, heading, size=16, font_weight='bold')
    model = str(result.target.get('model') or result.target.get('kind') or '')
    svg.text(WIDTH - 20, 30, model, size=12, anchor='end', fill='#777777')
    ok = [r for r in result.records if r.ok and not r.warmup]
    panels = [
        _Panel(10 + col * (PANEL_W + 20), 50 + row * (PANEL_H + 10)) for row in range(2) for col in range(2)
    ]
    _histogram_panel(svg, panels[0], 'time to first token', [r.ttft * 1000 for r in ok if r.ttft is not None])
    _histogram_panel(
        svg, panels[1], 'inter-token latency', [g * 1000 for r in ok for g in r.itl], log_ok=True
    )
    _histogram_panel(svg, panels[2], 'end-to-end latency', [r.e2e * 1000 for r in ok if r.e2e is not None])
    _timeline_panel(svg, panels[3], result)
    return svg.render()


def write_svg(result: BenchResult, path: str | Path) -> None:
    """Write the run's picture to `path`."""
    Path(path).write_text(render_svg(result), encoding='utf-8')
