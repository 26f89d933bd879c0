"""Small bar charts drawn server-side as SVG: no JavaScript, no CDN, readable at phone width.

Hand-written because the need is one stacked bar chart; a charting library would bring
a script bundle the CSP and the loopback rule would have to make room for.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

COLOURS = {"succeeded": "#2f855a", "partial": "#d69e2e", "failed": "#c53030"}


@dataclass
class Bar:
    label: str          # under the bar (sparse) and in its tooltip
    values: dict        # series -> count, stacked in COLOURS order


def stacked_bars(bars: list[Bar], *, title: str, width: int = 640, height: int = 160, label_every: int = 1) -> str:
    """An SVG of stacked bars that scales to its container (viewBox), failures in their own colour."""
    pad_left, pad_bottom, pad_top = 28, 18, 6
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    top = max([sum(b.values.values()) for b in bars] + [1])
    step = plot_w / max(len(bars), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" class="axis">{top}</text>',
             f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" class="axis">0</text>',
             f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 4}" y2="{pad_top + plot_h}" class="base"/>']
    for i, bar in enumerate(bars):
        x = pad_left + i * step + step * 0.1
        y = pad_top + plot_h
        tip = ", ".join(f"{n} {series}" for series, n in bar.values.items() if n) or "no runs"
        for series, colour in COLOURS.items():
            n = bar.values.get(series, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}" fill="{colour}" '
                         f'class="bar-{series}"><title>{escape(bar.label)}: {escape(tip)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + step * 0.4:.1f}" y="{height - 4}" text-anchor="middle" class="axis">'
                         f'{escape(bar.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
