"""The audit trail's list filters: choices from catalogues and the staff table, never from the audit rows."""

from __future__ import annotations

import abc
import re
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from ..im.client import COMMANDS
from ..im.errors import ERROR_CODES, describe
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


class ErrorCodeFilter(CatalogueListFilter):
    title = "ErrorCode"
    parameter_name = "error_code"
    empty_label = "No code (transport error or no answer)"

    def known_choices(self) -> list[tuple[str, str]]:
        return [(str(code), f"{code} — {info.meaning}") for code, info in sorted(ERROR_CODES.items())]

    def describe_unknown(self, value: str) -> str:
        return f"{value} — {describe(int(value)).meaning}" if _is_int(value) else value

    def filter_value(self, value: str) -> Any:
        if not _is_int(value):
            raise IncorrectLookupParameters(f"error_code={value[:20]!r}: an ErrorCode is a whole number.")
        return int(value)


class ActionStatusFilter(CatalogueListFilter):
    title = "ActionStatus"
    parameter_name = "action_status"
    empty_label = "None (no answer)"
    empty_match = ""

    def known_choices(self) -> list[tuple[str, str]]:
        return [("OK", "OK"), ("FAIL", "FAIL")]  # docs/tencent-im.md §1


class CommandFilter(CatalogueListFilter):
    title = "command"
    parameter_name = "command"

    def known_choices(self) -> list[tuple[str, str]]:
        return [(command, command) for command in COMMANDS]


class ActorFilter(admin.RelatedFieldListFilter):
    """The staff, read from the users table: RelatedOnlyFieldListFilter finds the actors with a
    SELECT DISTINCT over every audit row. Someone who sees only their own rows is offered only
    themselves. The URL is the same (``actor__id__exact``), so any user id still filters."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        staff = get_user_model().objects.filter(is_staff=True)
        if not sees_whole_trail(request.user):
            staff = staff.filter(pk=request.user.pk)
        return [(user.pk, str(user)) for user in staff.order_by(get_user_model().USERNAME_FIELD)]

