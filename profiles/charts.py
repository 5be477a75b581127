"""Charts drawn on the server as inline SVG for the audit dashboard: readable without JavaScript,
nothing loaded from elsewhere, every piece of text escaped by format_html. Presentation attributes
only: fonts and sizing come from improfile.css, since the Content-Security-Policy refuses style="..."."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .selectors.dashboard import OUTCOMES, ActorCount, DayCounts, OutcomeKind

# The admin's own palette where it has one (its link blue and error red), so the chart sits in the page.
OUTCOME_COLOURS = {OutcomeKind.ACCEPTED: "#417690", OutcomeKind.REFUSED: "#ba2121", OutcomeKind.NO_ANSWER: "#e6a23c"}
FAILURE_COLOUR = OUTCOME_COLOURS[OutcomeKind.REFUSED]
REQUEST_COLOUR = "#79aec8"
AXIS_COLOUR = "#666"
GRID_COLOUR = "#ddd"
LABEL_CHARACTERS = 28


@dataclass(frozen=True)
class Frame:
    """Where the plot sits inside the SVG's coordinate space."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (and at least 1), so
    the axis ends on a round number."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _number(value: float) -> str:
    """A coordinate with at most two decimals, without trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _legend(frame: Frame, entries: Sequence[tuple[str, str]]) -> SafeString:
    items = []
    x = frame.left
    for colour, label in entries:
        items.append((x, colour, x + 16, label))
        # Wide enough for the label at this font size; the legend is one line above the plot.
        x += 28 + 7 * len(label)
    return format_html_join(
        "", '<g><rect x="{}" y="2" width="12" height="12" fill="{}"/><text x="{}" y="12">{}</text></g>', items,
    )


def _requests(count: int) -> str:
    return f"{count:,} request{'' if count == 1 else 's'}"


def _day_title(day: DayCounts) -> str:
    parts = ", ".join(f"{day.count(outcome):,} {outcome.label_in_sentence}" for outcome in OUTCOMES)
    return f"{day.day:%Y-%m-%d} (UTC): {_requests(day.total)} — {parts}"


def daily_outcomes_chart(days: Sequence[DayCounts], *, width: int = 960, height: int = 320) -> SafeString:
    """A stacked bar per day (accepted at the bottom, then refused, then no answer), with a
    <title> tooltip per day, both axes labelled, and a legend. Days without requests keep their
    place, so gaps in the trail show as gaps."""
    frame = Frame(width=width, height=height, left=64, right=12, top=28, bottom=44)
    peak = nice_ceiling(max((day.total for day in days), default=0))
    scale = frame.plot_height / peak
    baseline = frame.top + frame.plot_height
    slot = frame.plot_width / max(len(days), 1)
    bar_width = max(slot * 0.8, 1.0)

    ticks = [peak * step // 4 for step in range(5)]
    grid = format_html_join("", (
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="' + GRID_COLOUR + '"/>'
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
    ), (
        (frame.left, width - frame.right, _number(baseline - tick * scale), _number(baseline - tick * scale),
         frame.left - 6, _number(baseline - tick * scale + 4), f"{tick:,}")
        for tick in ticks
    ))

    bars = []
    for index, day in enumerate(days):
        x = frame.left + index * slot + (slot - bar_width) / 2
        segments = []
        top = baseline
        for outcome in OUTCOMES:
            count = day.count(outcome)
            if count:
                segment_height = count * scale
                top -= segment_height
                segments.append((_number(x), _number(top), _number(bar_width), _number(segment_height),
                                 OUTCOME_COLOURS[outcome.key]))
        rects = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', segments)
        # A transparent column over the whole day carries the tooltip, so an empty day has one too.
        bars.append((_day_title(day), _number(frame.left + index * slot), frame.top, _number(slot),
                     _number(frame.plot_height), rects))
    columns = format_html_join(
        "", '<g><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="transparent"/>{}</g>', bars,
    )

    # About ten day labels whatever the range, always including the first day.
    every = max(1, math.ceil(len(days) / 10))
    day_labels = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', (
        (_number(frame.left + index * slot + slot / 2), baseline + 16, f"{day.day:%m-%d}")
        for index, day in enumerate(days) if index % every == 0
    ))

    total = sum(day.total for day in days)
    first, last = (days[0].day, days[-1].day) if days else (None, None)
    summary = (
        f"Requests per day from {first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC days), stacked by outcome; "
        f"{total:,} in all. The same numbers are in the table below."
        if days else "No days to show."
    )
    legend = _legend(frame, [(OUTCOME_COLOURS[outcome.key], outcome.label) for outcome in OUTCOMES])
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        'aria-label="{summary}" class="dashboard-chart">'
        "<title>{summary}</title>"
        "{legend}{grid}{columns}"
        '<line x1="{left}" x2="{left}" y1="{top}" y2="{baseline}" stroke="' + AXIS_COLOUR + '"/>'
        '<line x1="{left}" x2="{right}" y1="{baseline}" y2="{baseline}" stroke="' + AXIS_COLOUR + '"/>'
        "{day_labels}"
        '<text x="{middle}" y="{axis_title_y}" text-anchor="middle">Day (UTC, month-day)</text>'
        '<text transform="translate(14 {plot_middle}) rotate(-90)" text-anchor="middle">Requests</text>'
        "</svg>",
        width=width, height=height, summary=summary, legend=legend, grid=grid, columns=columns,
        left=frame.left, right=width - frame.right, top=frame.top, baseline=_number(baseline),
        day_labels=day_labels, middle=_number(frame.left + frame.plot_width / 2), axis_title_y=height - 6,
        plot_middle=_number(frame.top + frame.plot_height / 2),
    )


def top_actors_chart(actors: Sequence[ActorCount], *, width: int = 960) -> SafeString:
    """A horizontal bar per actor: all their requests, and the failed part of them in red, with
    the actor's name (escaped: it is whatever the account was called) and a <title> tooltip."""
    row_height = 24
    frame = Frame(width=width, height=28 + row_height * max(len(actors), 1) + 8, left=210, right=90, top=28,
                  bottom=8)
    peak = nice_ceiling(max((actor.requests for actor in actors), default=0))
    scale = frame.plot_width / peak
    rows = []
    for index, actor in enumerate(actors):
        y = frame.top + index * row_height
        # A username may be 150 characters; the label column fits about 28. The tooltip and the
        # table below give the whole name.
        label = actor.name if len(actor.name) <= LABEL_CHARACTERS else actor.name[:LABEL_CHARACTERS - 1] + "…"
        rows.append((
            f"{actor.name}: {_requests(actor.requests)}, {actor.failures:,} failed",
            frame.left - 8, _number(y + 16), label,
            frame.left, _number(y + 4), _number(max(actor.requests * scale, 1)),
            frame.left, _number(y + 4), _number(actor.failures * scale),
            _number(frame.left + actor.requests * scale + 6), _number(y + 16), f"{actor.requests:,}",
        ))
    bars = format_html_join("", (
        '<g><title>{}</title>'
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="16" fill="' + REQUEST_COLOUR + '"/>'
        '<rect x="{}" y="{}" width="{}" height="16" fill="' + FAILURE_COLOUR + '"/>'
        '<text x="{}" y="{}">{}</text></g>'
    ), rows)
    legend = _legend(frame, [(REQUEST_COLOUR, "Requests"), (FAILURE_COLOUR, "of which failed")])
    summary = (
        f"Requests per actor, the {len(actors)} busiest, with the failed part of each bar in red. "
        "The same numbers are in the table below."
        if actors else "No requests in this range."
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        'aria-label="{summary}" class="dashboard-chart">'
        "<title>{summary}</title>{legend}{bars}</svg>",
        width=width, height=frame.height, summary=summary, legend=legend, bars=bars,
    )
