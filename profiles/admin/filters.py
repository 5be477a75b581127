"""The audit trail's list filters: choices from catalogues and the staff table, never from the audit rows."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..errortext import error_meaning
from ..im.client import COMMANDS
from ..labels import command_label
from ..models import ImRequest
from ..selectors import sees_whole_trail


def _is_int(value: str) -> bool:
    # ASCII digits only ("²".isdigit() is true), and no more than an ErrorCode can have.
    return re.fullmatch("-?[0-9]{1,10}", value) is not None


class CatalogueListFilter(admin.SimpleListFilter, abc.ABC):
    """A list filter whose choices come from a catalogue, not from the table: on a million audit rows
    a SELECT DISTINCT for the sidebar costs more than the page. A value typed into the URL that the
    catalogue does not know still filters, and is shown as a choice so the list says what it filters."""

    # The choice for "the column is empty" (none when empty_label is blank), and the value it matches.
    empty_value = "none"
    empty_label = ""
    empty_match: Any = None

    @abc.abstractmethod
    def known_choices(self) -> list[tuple[str, str]]:
        """The catalogue's (value, label) choices; each filter says where they come from."""

    def describe_unknown(self, value: str) -> str:
        return value

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        choices = self.known_choices()
        value = self.value()
        if value is not None and value != self.empty_value and value not in dict(choices):
            choices.append((value, self.describe_unknown(value)))
        return [*choices, (self.empty_value, self.empty_label)] if self.empty_label else choices

    def filter_value(self, value: str) -> Any:
        return value

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImRequest]) -> QuerySet[ImRequest]:
        value = self.value()
        if value is None:
            return queryset
        if value == self.empty_value and self.empty_label:
            return queryset.filter(**{self.parameter_name: self.empty_match})
        return queryset.filter(**{self.parameter_name: self.filter_value(value)})


# ErrorCode families (docs/tencent-im.md §4–§6): value in the URL, label, the codes' range.
ERROR_CODE_FAMILIES: list[tuple[str, Any, range]] = [
    ("4xxxx", _("40000–49999: the profile and account requests"), range(40000, 50000)),
    ("6xxxx", _("60000–69999: the request, the app or the rate limit"), range(60000, 70000)),
    ("7xxxx", _("70000–79999: UserSig, accounts and quotas"), range(70000, 80000)),
]


class ErrorCodeFilter(CatalogueListFilter):
    """The codes the viewer's rows actually hold (from the dashboard's per-day counts, not the audit
    table), then OK, the families and "no code": a short list however long the catalogue. Any code
    typed into the URL (``?error_code=40001``) still filters and is shown."""

    title = _("ErrorCode")
    parameter_name = "error_code"
    template = "admin/profiles/imrequest/error_code_filter.html"
    empty_label = _("No code (transport error or no answer)")

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.present = selectors.error_codes_present(request.user)
        super().__init__(request, *args, **kwargs)

    def known_choices(self) -> list[tuple[str, str]]:
        codes = [(str(code), self.describe_unknown(str(code))) for code in self.present]
        # A code outside the families is listed among the codes present: an "any other code" choice
        # would be ranges either side of the families, which no index serves in the list's order.
        families = [(value, str(label)) for value, label, _codes in ERROR_CODE_FAMILIES]
        return [*codes, ("0", gettext("0 — OK (accepted)")), *families]

    def describe_unknown(self, value: str) -> str:
        return f"{value} — {error_meaning(int(value))}" if _is_int(value) else value

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        """Django's choices, each also saying its group (a code the trail holds, or a family) and,
        for a code, the code and its meaning apart: the template shows the meaning as one shortened
        line with the whole of it in a title."""
        present = {str(code) for code in self.present}
        choices = super().choices(changelist)
        yield {**next(choices), "group": "all"}
        for (value, label), choice in zip(self.lookup_choices, choices, strict=True):
            if value in present:
                code, _dash, meaning = label.partition(" — ")
                yield {**choice, "group": "present", "code": code, "meaning": meaning}
            else:
                yield {**choice, "group": "family"}

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImRequest]) -> QuerySet[ImRequest]:
        value = self.value()
        for family, _label, codes in ERROR_CODE_FAMILIES:
            if value == family:  # a range on the (error_code, created_at) index
                return queryset.filter(error_code__gte=codes.start, error_code__lt=codes.stop)
        return super().queryset(request, queryset)

    def filter_value(self, value: str) -> Any:
        if not _is_int(value):
            raise IncorrectLookupParameters(
                gettext("%(parameter)s: an ErrorCode is a whole number.") % {"parameter": f"error_code={value[:20]!r}"}
            )
        return int(value)


class OutcomeFilter(admin.SimpleListFilter):
    """What became of a request, in plain words. Each outcome is also written as a condition on an
    indexed column (a complete answer has an ErrorCode, no answer has none), so the index on
    (error_code, created_at) serves the rare ones."""

    title = _("outcome")
    parameter_name = "outcome"
    OUTCOMES: dict[str, tuple[Any, Q]] = {
        "ok": (_("OK (accepted)"), Q(state=ImRequest.State.OK, error_code=0)),
        "refused": (_("Refused by Tencent"), Q(state=ImRequest.State.IM_ERROR)),
        "no_answer": (_("No answer (transport error)"), Q(
            error_code__isnull=True, state__in=[ImRequest.State.TRANSPORT_ERROR, ImRequest.State.UNANSWERED],
        )),
        "pending": (_("Pending (not completed)"), Q(error_code__isnull=True, state=ImRequest.State.PENDING)),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [(value, label) for value, (label, _condition) in self.OUTCOMES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImRequest]) -> QuerySet[ImRequest]:
        value = self.value()
        if value is None:
            return queryset
        if value not in self.OUTCOMES:
            raise IncorrectLookupParameters(gettext("Outcome %(value)s is not one of %(choices)s.") % {
                "value": repr(value), "choices": ", ".join(self.OUTCOMES),
            })
        return queryset.filter(self.OUTCOMES[value][1])


class UserIDFilter(admin.SimpleListFilter):
    """``?user_id=`` lists one UserID exactly (a timeline's "audit list" link), where the search box
    also finds the UserIDs that begin with what was typed. Shown only while it filters."""

    title = _("UserID")
    parameter_name = "user_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        value = self.value()
        return [] if value is None else [(value, gettext("exactly %(user_id)s") % {"user_id": value})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImRequest]) -> QuerySet[ImRequest]:
        value = self.value()
        return queryset if value is None else queryset.filter(user_id=value)


class ActionStatusFilter(CatalogueListFilter):
    title = _("ActionStatus")
    parameter_name = "action_status"
    empty_label = _("None (no answer)")
    empty_match = ""

    def known_choices(self) -> list[tuple[str, str]]:
        return [("OK", "OK"), ("FAIL", "FAIL")]  # docs/tencent-im.md §1


class CommandFilter(CatalogueListFilter):
    title = _("request")
    parameter_name = "command"

    def known_choices(self) -> list[tuple[str, str]]:
        return [(command, command_label(command)) for command in COMMANDS]


class ActorFilter(admin.RelatedFieldListFilter):
    """The staff, read from the users table: RelatedOnlyFieldListFilter finds the actors with a
    SELECT DISTINCT over every audit row. Someone who sees only their own rows is offered only
    themselves. The URL is the same (``actor__id__exact``), so any user id still filters. Folded
    away until it filters: one line per staff member would make the sidebar longer than the page."""

    template = "admin/profiles/imrequest/collapsed_filter.html"

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        staff = get_user_model().objects.filter(is_staff=True)
        if not sees_whole_trail(request.user):
            staff = staff.filter(pk=request.user.pk)
        return [(user.pk, str(user)) for user in staff.order_by(get_user_model().USERNAME_FIELD)]

