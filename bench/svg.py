"""A histogram picture written by hand as SVG: no plotting library, one dependency fewer.

:func:`histogram` draws one panel per store: a bar per bin and per server (side by side), the goal
as a dashed line and the p99 as a solid one, axis ticks in seconds. GitHub, browsers and image
viewers all show the file; RESULTS.md links it beside the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
WIDTH = 760
PANEL_HEIGHT = 250
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
TOP = 48  # the panel's title, then its legend
BOTTOM = 44  # tick labels and axis title


@dataclass
class Panel:
    """One histogram: a title, samples (seconds) per series, the p99 to mark, and samples that never came."""

    title: str
    series: dict[str, list[float]]
    p99: float
    missing: int = 0


def nice_step(span: float, bins: int) -> float:
    """A bin width of 1, 2 or 5 times a power of ten that cuts *span* into about *bins* bins."""
    raw = max(span, 1e-6) / bins
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def histogram(panels: Sequence[Panel], *, goal: float, title: str, bins: int = 40) -> str:
    """The SVG text of *panels* stacked vertically, sharing one seconds axis."""
    samples = [value for panel in panels for values in panel.series.values() for value in values]
    top = max([goal * 1.2, *samples, *(p.p99 for p in panels if math.isfinite(p.p99))])
    step = nice_step(top, bins)
    count = max(1, math.ceil(top / step + 1e-9))
    axis_end = count * step
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    height = 28 + len(panels) * PANEL_HEIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]

    def x_of(seconds: float) -> float:
        return MARGIN_LEFT + plot_width * min(seconds, axis_end) / axis_end

    for index, panel in enumerate(panels):
        y0 = 28 + index * PANEL_HEIGHT
        plot_top, plot_bottom = y0 + TOP, y0 + PANEL_HEIGHT - BOTTOM
        plot_height = plot_bottom - plot_top
        counts = {
            name: [sum(1 for v in values if min(int(v / step), count - 1) == b) for b in range(count)]
            for name, values in panel.series.items()
        }
        tallest = max([1, *(c for series in counts.values() for c in series)])
        out.append(f'<text x="{MARGIN_LEFT}" y="{y0 + 16}" font-weight="bold">{escape(panel.title)}</text>')
        # legend
        legend_x = WIDTH - MARGIN_RIGHT
        for series_index, name in reversed(list(enumerate(panel.series))):
            label = f"{name} (n={len(panel.series[name])})"
            legend_x -= 12 + 7 * len(label)
            colour = COLOURS[series_index % len(COLOURS)]
            out.append(f'<rect x="{legend_x}" y="{y0 + 23}" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text x="{legend_x + 14}" y="{y0 + 32}">{escape(label)}</text>')
        # y grid and ticks: counts
        y_step = max(1, math.ceil(tallest / 5))
        for tick in range(0, tallest + 1, y_step):
            y = plot_bottom - plot_height * tick / tallest
            out.append(
                f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            )
            out.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
        out.append(
            f'<text x="14" y="{(plot_top + plot_bottom) / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(plot_top + plot_bottom) / 2:.1f})">trials</text>'
        )
        # bars
        bin_width = plot_width / count
        series_count = max(1, len(counts))
        bar_width = max(1.0, (bin_width - 2) / series_count)
        for series_index, (_name, series) in enumerate(counts.items()):
            colour = COLOURS[series_index % len(COLOURS)]
            for b, c in enumerate(series):
                if not c:
                    continue
                bar_height = plot_height * c / tallest
                x = MARGIN_LEFT + b * bin_width + 1 + series_index * bar_width
                out.append(
                    f'<rect x="{x:.1f}" y="{plot_bottom - bar_height:.1f}" width="{bar_width:.1f}" '
                    f'height="{bar_height:.1f}" fill="{colour}"/>'
                )
        # x axis: seconds
        out.append(
            f'<line x1="{MARGIN_LEFT}" y1="{plot_bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{plot_bottom}" '
            'stroke="black"/>'
        )
        label_step = nice_step(axis_end, 10)
        seconds = 0.0
        while seconds <= axis_end + 1e-9:
            x = x_of(seconds)
            out.append(f'<line x1="{x:.1f}" y1="{plot_bottom}" x2="{x:.1f}" y2="{plot_bottom + 4}" stroke="black"/>')
            out.append(f'<text x="{x:.1f}" y="{plot_bottom + 16}" text-anchor="middle">{seconds:g}</text>')
            seconds = round(seconds + label_step, 9)
        out.append(
            f'<text x="{MARGIN_LEFT + plot_width / 2}" y="{plot_bottom + 34}" text-anchor="middle">'
            "seconds from the CLI's return to the first refusal</text>"
        )
        # goal and p99
        gx = x_of(goal)
        out.append(
            f'<line x1="{gx:.1f}" y1="{plot_top}" x2="{gx:.1f}" y2="{plot_bottom}" stroke="#d62728" '
            'stroke-width="2" stroke-dasharray="6,4"/>'
        )
        out.append(f'<text x="{gx + 4:.1f}" y="{plot_top + 12}" fill="#d62728">goal {goal:g} s</text>')
        if math.isfinite(panel.p99):
            px = x_of(panel.p99)
            anchor = "end" if px > WIDTH - 140 else "start"
            offset = -4 if anchor == "end" else 4
            out.append(
                f'<line x1="{px:.1f}" y1="{plot_top}" x2="{px:.1f}" y2="{plot_bottom}" stroke="black" '
                'stroke-width="1.5"/>'
            )
            out.append(
                f'<text x="{px + offset:.1f}" y="{plot_top + 26}" text-anchor="{anchor}">p99 {panel.p99:.2f} s</text>'
            )
        if panel.missing:
            out.append(
                f'<text x="{WIDTH - MARGIN_RIGHT}" y="{plot_top + 40}" text-anchor="end" fill="#d62728">'
                f"{panel.missing} never refused within the trial's timeout (not drawn)</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"
