"""What the admin modules share: the base ModelAdmin (only the filters a list offers), the read-only
ModelAdmin, and small HTML helpers for audit data."""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy

from .. import labels

# Where Django itself reports a refused lookup (a SuspiciousOperation).
security_logger = logging.getLogger("django.security.DisallowedModelAdminLookup")
# A filter value holding a control character (a NUL breaks PostgreSQL's query) is refused.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
# The date hierarchy's years: nothing in this app happened before 1970, and Django computes the end
# of the chosen year as the next year's start, which must exist in every time zone.
DATE_HIERARCHY_YEARS = range(1970, 9999)


class OfferedFiltersOnly(admin.ModelAdmin):
    """A change list filtered only by what it offers: its list filters' parameters (and a filtered
    field's bare name, an exact match), the date hierarchy's and ``extra_lookups``. Django's default
    also lets the address filter by any lookup on the model's own fields (``?nick__regex=(a+)+$``
    runs a regular expression over every row); anything not offered is a
    DisallowedModelAdminLookup, a 400 naming the lookup. A value that cannot be used (a control
    character, a date the date hierarchy cannot show, a page past the end) sends the list back
    without its filters, with a message saying why."""

    # Lookups the app's own links use besides the list filters. None today: the dashboard links to
    # ``?error_code=`` (a list filter), the timeline to ``?user_id=`` (a list filter too).
    extra_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        if isinstance(value, str) and (found := _CONTROL_CHARACTER.search(value)):
            raise IncorrectLookupParameters(
                gettext("The filter %(lookup)s has a control character (U+%(code)s) in its value.")
                % {"lookup": lookup, "code": f"{ord(found.group()):04X}"}
            )
        return lookup in self.offered_lookups(request, lookup)

    def offered_lookups(self, request: HttpRequest | None, lookup: str = "") -> set[str]:
        """The query parameters the list's filters read. A field's filter is built only when ``lookup``
        concerns its field, since some read their choices from the database."""
        offered = set(self.extra_lookups)
        if self.date_hierarchy:
            offered.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        list_filter = self.get_list_filter(request) if request is not None else self.list_filter
        for item in list_filter:
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                offered.add(item.parameter_name)
                continue
            field_path, filter_class = item if isinstance(item, list | tuple) else (item, admin.FieldListFilter.create)
            if lookup and lookup != field_path and not lookup.startswith(f"{field_path}__"):
                continue
            field = get_fields_from_path(self.model, field_path)[-1]
            spec = filter_class(field, request, {}, self.model, self, field_path=field_path)
            # The bare field name is the same exact match as the filter's own "<field>__exact".
            offered.update([field_path, *spec.expected_parameters()])
        return offered

    def get_changelist_instance(self, request: HttpRequest):
        try:
            _check_date_hierarchy(self.date_hierarchy, request.GET)
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            # Django answers with the list without any filter (?e=1); this says why.
            messages.error(request, gettext("%(reason)s The list is shown without the filters of that address.") % {
                "reason": _reason(exc, request),
            })
            raise

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except DisallowedModelAdminLookup as exc:
            security_logger.warning("%s (%s)", exc, request.path)
            context = {
                **self.admin_site.each_context(request), "opts": self.opts,
                "title": gettext("This filter is not offered"), "reason": _refused_lookup(exc),
                "offered": sorted(self.offered_lookups(request)),
            }
            return TemplateResponse(request, "admin/profiles/filter_refused.html", context, status=400)


def _refused_lookup(exc: DisallowedModelAdminLookup) -> str:
    """Django's refusal ("Filtering by nick__regex not allowed", in English) in the reader's language."""
    found = re.fullmatch(r"Filtering by (.+) not allowed", str(exc), re.DOTALL)
    if found is None:
        return str(exc)
    return gettext("Filtering by %(lookup)s not allowed") % {"lookup": found.group(1)}


_NOT_A_NUMBER = {
    "year": gettext_lazy("%(parameter)s is not a year number."),
    "month": gettext_lazy("%(parameter)s is not a month number."),
    "day": gettext_lazy("%(parameter)s is not a day number."),
}


def _check_date_hierarchy(field: str | None, query: QueryDict) -> None:
    """Refuse date hierarchy values Django's change list would crash on (a year 99999999999
    overflows, 9999 has no next year), naming the parameter."""
    if not field:
        return
    parts = {part: query.get(f"{field}__{part}") for part in ("year", "month", "day")}
    for part, value in parts.items():
        if value is not None and not re.fullmatch("[0-9]{1,4}", value):
            raise IncorrectLookupParameters(_NOT_A_NUMBER[part] % {"parameter": f"{field}__{part}={value[:20]!r}"})
    year, month, day = parts["year"], parts["month"], parts["day"]
    if year is None:
        return
    if int(year) not in DATE_HIERARCHY_YEARS:
        raise IncorrectLookupParameters(
            gettext("%(parameter)s: the list shows the years %(first)s to %(last)s.") % {
                "parameter": f"{field}__year={year}", "first": DATE_HIERARCHY_YEARS.start,
                "last": DATE_HIERARCHY_YEARS.stop - 1,
            }
        )
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise IncorrectLookupParameters(
            gettext("%(date)s is not a date.") % {"date": f"{year}-{month or 1}-{day or 1}"}
        ) from None


def _reason(exc: IncorrectLookupParameters, request: HttpRequest) -> str:
    """The refusal in words: Django raises IncorrectLookupParameters around a ValidationError, or bare
    from an InvalidPage."""
    cause = exc.args[0] if exc.args else exc.__context__
    if isinstance(cause, InvalidPage):
        return gettext("Page %(page)s: %(why)s") % {"page": request.GET.get(PAGE_VAR, "")[:30], "why": cause}
    if isinstance(cause, ValidationError):
        return " ".join(cause.messages)
    return str(cause or gettext("A filter in the address cannot be used."))


class ReadOnlyAdmin(OfferedFiltersOnly):
    """Records nobody edits through the admin, superusers included: the audit trail, external
    changes, jobs. Viewing needs the model's view permission."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def short_tag_names(names: list[str]) -> str:
    """Tag names without the common "Tag_Profile_" prefix, so a list column fits; detail pages
    show the full names."""
    return ", ".join(name.removeprefix("Tag_Profile_") for name in names)


def changes_table(changes: list[dict[str, Any]] | None) -> str:
    """A before → after table of tag changes, for audit rows and external changes alike."""
    if not changes:
        return "—"
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((c["tag"], json.dumps(c.get("before"), ensure_ascii=False),
          json.dumps(c.get("after"), ensure_ascii=False)) for c in changes),
    )
    return format_html(
        "<table><thead><tr><th>Tag</th><th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>", rows
    )


def plain_tag_names(names: list[str]) -> str:
    """Tags by their labels ("Nickname, Gender"), for list columns; the detail page has the wire names."""
    return labels.describe_tags(names)


def plain_changes_table(changes: list[dict[str, Any]] | None) -> str:
    """A before → after table of tag changes in plain words, each tag's wire name (and an enum's wire
    value) kept as small print for whoever needs to match it with Tencent's documents."""
    if not changes:
        return "—"
    texts = labels.describe_changes(changes)

    def cell(text: str, raw: Any) -> str:
        if isinstance(raw, str) and raw and text != raw:
            return format_html('{} <span class="wire">{}</span>', text, raw)
        return format_html("{}", text)

    rows = format_html_join(
        "", '<tr><td>{} <span class="wire">{}</span></td><td>{}</td><td>{}</td></tr>',
        ((text.label, text.wire, cell(text.before, change.get("before")), cell(text.after, change.get("after")))
         for text, change in zip(texts, changes, strict=True)),
    )
    return format_html(
        '<table class="plain-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        gettext("Tag"), gettext("Before"), gettext("After"), rows,
    )


def pretty_json(value: Any) -> str:
    return format_html('<pre class="json-body">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))
