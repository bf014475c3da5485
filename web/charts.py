"""SVG charts drawn on the server: horizontal bars, grouped bars and lines over time.

Readable without colour: every bar carries its value as text, series differ by hatching (bars) or by
marker shape and dash (lines), and a legend names them. Each chart is an `<svg role="img">` with a
`<title>` and a `<desc>` listing the values, for screen readers. Every label is escaped: product
areas and owners come from ticket fields. No inline style: presentation attributes only (CSP).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

WIDTH = 640
ROW = 22                    # height of one bar
LABEL = 150                 # room for the labels left of the bars
VALUE_ROOM = 70             # room right of the longest bar for its value
INK = "#1c2330"
FILLS = ("#1f5fbf", "#b35c00", "#2d7d46", "#7a3fa0", "#a12c2c", "#4b5563")
PATTERNS = ("solid", "hatch", "dots", "cross", "back", "grid")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")
_ids = itertools.count(1)

Format = Callable[[float], str]


def plain(value: float) -> str:
    """`3`, `2.5`, `1,234`: large values without decimals, never in exponent form."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"


def percent(value: float) -> str:
    return f"{value:.0%}"


def bar_chart(title: str, values: Mapping[str, float | None], fmt: Format = plain, note: str = "") -> Markup:
    """One bar per label; a missing value is written "no data" instead of a bar."""
    chart = _Chart(title, len(values) * ROW + 10)
    top = max((v for v in values.values() if v is not None), default=0) or 1
    for row, (label, value) in enumerate(values.items()):
        y = 5 + row * ROW
        chart.text(LABEL - 6, y + ROW / 2 + 4, label, anchor="end")
        chart.bar(LABEL, y + 2, value, top, 0, fmt)
    chart.described(f"{label}: {_said(value, fmt)}" for label, value in values.items())
    return chart.svg(note)


def grouped_bars(title: str, groups: Mapping[str, Mapping[str, float | None]], series: Sequence[str],
                 fmt: Format = plain, note: str = "") -> Markup:
    """For each group, one bar per series, told apart by hatching and named in the legend."""
    per_group = len(series) * (ROW - 6) + 10
    chart = _Chart(title, len(groups) * per_group + 10 + ROW)
    top = max((v for g in groups.values() for v in g.values() if v is not None), default=0) or 1
    for index, (group, bars) in enumerate(groups.items()):
        y = 5 + index * per_group
        chart.text(LABEL - 6, y + per_group / 2, group, anchor="end")
        for n, name in enumerate(series):
            chart.bar(LABEL, y + n * (ROW - 6), bars.get(name), top, n, fmt, height=ROW - 8)
    chart.legend(series, 5 + len(groups) * per_group, bars=True)
    chart.described(f"{group}, {name}: {_said(bars.get(name), fmt)}" for group, bars in groups.items()
                    for name in series)
    return chart.svg(note)


def line_chart(title: str, series: Mapping[str, Sequence[tuple[str, float | None]]], fmt: Format = plain,
               note: str = "") -> Markup:
    """One line per series over the same x labels (dates); gaps where a point has no value."""
    height, left = 220, 80
    plot_w = WIDTH - left - 20
    chart = _Chart(title, height + 40 + ROW)
    xs = max((len(points) for points in series.values()), default=0)
    top = max((v for points in series.values() for _, v in points if v is not None), default=0) or 1
    chart.axes(left, height, plot_w, top, fmt, [label for label, _ in next(iter(series.values()), [])])
    for n, (name, points) in enumerate(series.items()):
        coords = [(left + (i + 0.5) * plot_w / max(xs, 1), 10 + height * (1 - v / top)) if v is not None else None
                  for i, (_, v) in enumerate(points)]
        chart.line(coords, n)
        for (label, value), at in zip(points, coords, strict=True):
            if at is not None:
                chart.marker(at, n, f"{name}, {label}: {fmt(value)}")
    chart.legend(list(series), height + 36, bars=False)
    chart.described(f"{name}, {label}: {_said(value, fmt)}" for name, points in series.items()
                    for label, value in points if value is not None)
    return chart.svg(note)


def _round(value: float) -> float:
    """Three significant digits, for axis labels."""
    return float(f"{value:.3g}")


def _said(value: float | None, fmt: Format) -> str:
    return "no data" if value is None else fmt(value)


class _Chart:
    def __init__(self, title: str, height: float):
        self.id, self.title, self.height = f"chart{next(_ids)}", title, height
        self.parts: list[str] = []
        self.description = ""
        self.patterns: set[int] = set()     # the series whose hatching this chart uses

    def text(self, x: float, y: float, words: str, anchor: str = "start", size: int = 12) -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
                          f'fill="{INK}">{escape(words)}</text>')

    def bar(self, x: float, y: float, value: float | None, top: float, series: int, fmt: Format,
            height: float = ROW - 4) -> None:
        if value is None:
            self.text(x + 4, y + height / 2 + 4, "no data")
            return
        width = max((WIDTH - x - VALUE_ROOM) * value / top, 1)
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                          f'fill="{self._fill(series)}" stroke="{FILLS[series % len(FILLS)]}"/>')
        self.text(x + width + 4, y + height / 2 + 4, fmt(value))

    def axes(self, left: float, height: float, width: float, top: float, fmt: Format, labels: list[str]) -> None:
        self.parts.append(f'<line x1="{left}" y1="10" x2="{left}" y2="{10 + height}" stroke="{INK}"/>'
                          f'<line x1="{left}" y1="{10 + height}" x2="{left + width}" y2="{10 + height}" '
                          f'stroke="{INK}"/>')
        for fraction in (0, 0.5, 1):
            self.text(left - 4, 14 + height * (1 - fraction), fmt(_round(top * fraction)), anchor="end", size=11)
        every = max(len(labels) // 6, 1)
        for i, label in enumerate(labels):
            if i % every == 0:
                self.text(left + (i + 0.5) * width / len(labels), height + 26, label[5:], anchor="middle", size=11)

    def line(self, coords: list[tuple[float, float] | None], series: int) -> None:
        for run in _runs(coords):
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            dash = DASHES[series % len(DASHES)]
            self.parts.append(f'<polyline points="{points}" fill="none" stroke="{FILLS[series % len(FILLS)]}" '
                              f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")

    def marker(self, at: tuple[float, float], series: int, label: str) -> None:
        shape, colour, (x, y) = MARKERS[series % len(MARKERS)], FILLS[series % len(FILLS)], at
        self.parts.append(f"<g><title>{escape(label)}</title>{_shape(shape, x, y, colour)}</g>")

    def legend(self, names: Sequence[str], y: float, bars: bool) -> None:
        x = LABEL if bars else 80
        for n, name in enumerate(names):
            colour = FILLS[n % len(FILLS)]
            swatch = (f'<rect x="{x}" y="{y}" width="14" height="12" fill="{self._fill(n)}" stroke="{colour}"/>'
                      if bars else _shape(MARKERS[n % len(MARKERS)], x + 7, y + 6, colour))
            self.parts.append(swatch)
            self.text(x + 18, y + 11, name)
            x += 26 + 7 * len(name)

    def described(self, lines) -> None:
        self.description = "; ".join(lines)

    def _fill(self, series: int) -> str:
        if PATTERNS[series % len(PATTERNS)] == "solid":
            return FILLS[series % len(FILLS)]
        self.patterns.add(series)
        return f"url(#{self.id}-p{series})"

    def _defs(self) -> str:
        return "".join(_pattern(f"{self.id}-p{n}", PATTERNS[n % len(PATTERNS)], FILLS[n % len(FILLS)])
                       for n in sorted(self.patterns))

    def svg(self, note: str) -> Markup:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} '
                f'{self.height:.0f}" width="{WIDTH}" height="{self.height:.0f}" '
                f'aria-labelledby="{self.id}-t {self.id}-d"><title id="{self.id}-t">{escape(self.title)}</title>'
                f'<desc id="{self.id}-d">{escape(self.description or "no data")}'
                f'{escape(". " + note) if note else ""}</desc><defs>{self._defs()}</defs>')
        return Markup(head + "".join(self.parts) + "</svg>")


def _runs(coords):
    run = []
    for at in coords + [None]:
        if at is None:
            if run:
                yield run
            run = []
        else:
            run.append(at)


def _shape(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}" '
                f'fill="{colour}"/>')
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" ' \
               f'fill="{colour}"/>'
    if shape == "cross":
        return (f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} '
                f'L{x + 4:.1f},{y - 4:.1f}" stroke="{colour}" stroke-width="2"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def _pattern(pattern_id: str, kind: str, colour: str) -> str:
    marks = {"hatch": f'<path d="M0,8 L8,0" stroke="{colour}" stroke-width="2"/>',
             "back": f'<path d="M0,0 L8,8" stroke="{colour}" stroke-width="2"/>',
             "dots": f'<circle cx="4" cy="4" r="1.8" fill="{colour}"/>',
             "cross": f'<path d="M0,8 L8,0 M0,0 L8,8" stroke="{colour}" stroke-width="1.2"/>',
             "grid": f'<path d="M4,0 L4,8 M0,4 L8,4" stroke="{colour}" stroke-width="1.2"/>'}[kind]
    return (f'<pattern id="{pattern_id}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="#fff"/>{marks}</pattern>')
