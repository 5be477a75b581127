"""``{{ text|recorded }}``: a text this app recorded in English (an audit row's purpose, a transport
failure, a job item's message) in the reader's language (profiles.errortext.recorded_text)."""

from __future__ import annotations

from django import template

from ..errortext import recorded_text

register = template.Library()


@register.filter
def recorded(text: str) -> str:
    return recorded_text(text or "")
