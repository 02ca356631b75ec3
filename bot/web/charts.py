"""Charts drawn on the server as inline SVG: no scripts, nothing fetched, readable without colour
(each line is labelled in the legend and every point carries its value in a tooltip)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 28, 28, 36


def line_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]], title: str
) -> Markup:
    """A line chart of ``series`` (name, values, colour) over ``labels`` (one per point)."""
    top = max([1, *(v for _, values, _ in series for v in values)])
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    step = span_x / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(labels) > 1 else span_x / 2)

    def y(v: int) -> float:
        return TOP + span_y - v * span_y / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in sorted({0, top // 2, top}):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" class="axis" text-anchor="end">{tick}</text>'
        )
    every = max(1, len(labels) // 10)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" class="axis" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for n, (name, values, colour) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{escape(colour)}" stroke-width="2"/>'
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{escape(colour)}">'
                f"<title>{escape(labels[i])} {escape(name)} {v}</title></circle>"
            )
        legend_x = LEFT + n * 110
        parts.append(
            f'<rect x="{legend_x}" y="6" width="14" height="4" fill="{escape(colour)}"/>'
            f'<text x="{legend_x + 18}" y="12" class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
