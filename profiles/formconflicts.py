"""What the profile form does when the profile changed underneath it, and other things it tells the
agent before saving: a conflict table naming who changed what, *Keep mine*, and the birthday that
is not a date. None of these is an error, so they keep the form open without Django's red note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorList
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_noop, override

from . import selectors
from .im import tags as catalogue
from .labels import describe_change
from .models import Profile

if TYPE_CHECKING:
    from .services import Conflict, PushOutcome

# The code of a form "error" that only keeps the form open to tell the agent something.
INFORMATION = "information"
BIRTHDAY = "Tag_Profile_IM_BirthDay"
# Why a push made with *Keep mine* was sent, for its audit row: stored in English like every
# purpose (a record), marked so that a page showing it can translate it.
OVERWRITE_PURPOSE = gettext_noop("overwrote a change made meanwhile")


def parse_moment(raw: Any) -> datetime | None:
    """An ISO timestamp from a hidden field, or None (it only narrows the search for a cause)."""
    moment = parse_datetime(str(raw or "").strip()) if raw else None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_conflict_base(raw: str) -> dict[str, Any] | None:
    """The hidden *Keep mine* base: the version and Tencent's values the conflict table showed."""
    if not raw:
        return None
    try:
        base = json.loads(raw)
    except ValueError:
        base = None
    moment = parse_moment(base.get("at")) if isinstance(base, dict) else None
    if (
        not isinstance(base, dict) or not isinstance(base.get("values"), dict) or moment is None
        or isinstance(base.get("version"), bool) or not isinstance(base.get("version"), int)
    ):
        raise forms.ValidationError(
            gettext("The form's conflict details are damaged; reload the page and edit again."), code="damaged",
        )
    return {"version": base["version"], "at": moment, "values": base["values"]}


class ConflictHandling:
    """Mixed into ProfileForm, which declares the hidden ``loaded_at`` and ``conflict_base`` fields
    and ``confirm_birthday``, and calls these from its ``clean()``."""

    notices: list[str]
    conflicts: list[Conflict]
    conflict_report: selectors.ConflictReport | None
    taken: list[selectors.TakenChange]
    birthday_warning: str

    def init_conflicts(self) -> None:
        # What the form tells the agent in a plain information box (the conflict table and the
        # birthday warning have panels of their own).
        self.notices = []
        self.conflicts = []  # the push's own Conflict records, for callers that read them
        self.conflict_report = None
        self.taken = []
        self.birthday_warning = ""
        if self.instance.pk is not None:
            self.initial["loaded_at"] = timezone.now().isoformat()

    def inform(self, message: str, *, own_panel: bool = False) -> None:
        """Keep the form open to tell the agent ``message``, shown in a panel, not as an error."""
        self.add_error(None, forms.ValidationError(message, code=INFORMATION))
        if not own_panel:
            self.notices.append(message)

    @property
    def only_information(self) -> bool:
        """The form stays open only to inform: the admin then shows no "Please correct" note."""
        errors = self.errors.as_data()
        return bool(errors) and set(errors) == {NON_FIELD_ERRORS} and all(
            error.code == INFORMATION for error in errors[NON_FIELD_ERRORS]
        )

    def non_field_errors(self) -> ErrorList:
        """The real non-field errors; information has its own panel."""
        errors = super().non_field_errors()
        kept = [error for error in errors.as_data() if error.code != INFORMATION]
        return self.error_class(kept, error_class="nonfield", renderer=self.renderer)

    @property
    def has_unsaved_edits(self) -> bool:
        """Re-shown after a save that did not happen, with values that differ from the local copy's."""
        names = {field_name for field_name, *_rest in self._tag_fields()}
        return self.is_bound and bool(names & set(self.changed_data))

    # --- the birthday (docs/tencent-im.md §2: any uint32, YYYYMMDD suggested) ---------------------------

    def check_birthday(self, values: Mapping[str, Any], started: Mapping[str, Any]) -> None:
        value = values.get(BIRTHDAY)
        if not isinstance(value, int) or value == 0 or value == started.get(BIRTHDAY):
            return  # 0 is the usual "not set"; a value Tencent already holds is not the agent's doing
        if catalogue.is_birthday_date(value):
            return
        self.birthday_warning = gettext(
            "The birthday %(value)s is not a real date written YYYYMMDD (such as 20190419). Tencent accepts "
            "any whole number here, but apps usually read it as a date."
        ) % {"value": value}
        if not self.cleaned_data.get("confirm_birthday"):
            self.inform(self.birthday_warning, own_panel=True)

    # --- Keep mine ------------------------------------------------------------------------------

    def keep_mine_base(self) -> dict[str, Any] | None:
        """The base *Keep mine* saves over: only when that button was pressed on a conflict table."""
        if "_keep_mine" not in self.data:
            return None
        return self.cleaned_data.get("conflict_base")

    def overwrite_note(self, *, base: Mapping[str, Any], values: Mapping[str, Any], since: datetime | None) -> str:
        """The audit note of a *Keep mine* push: each tag it sends over Tencent's value, and who set
        that; empty when it sends over none (the agent took Tencent's value after all)."""
        overwritten = {
            tag: remote for tag, remote in base["values"].items() if tag in values and values[tag] != remote
        }
        if not overwritten:
            return ""
        causes = selectors.change_causes(
            user_id=self.instance.user_id, since=since, viewer_id=self._actor_id(), values=overwritten,
        )
        with override("en"):
            parts = [
                f"{describe_change(tag, remote, values[tag]).label}: Tencent had "
                f"{json.dumps(remote, ensure_ascii=False)}, set by {causes[tag].record()}; sent "
                f"{json.dumps(values[tag], ensure_ascii=False)}"
                for tag, remote in overwritten.items()
            ]
        return "Kept the agent's values over a change made meanwhile — " + "; ".join(parts) + "."

    # --- after the push ----------------------------------------------------------------------------

    def show_conflicts(
        self, outcome: PushOutcome, *, since: datetime | None, started: Mapping[str, Any], touched: set[str],
        base: Mapping[str, Any] | None,
    ) -> None:
        """Keep the form open with the conflict table; the hidden base lets *Keep mine* save over
        exactly what the table showed (and no later change)."""
        current = Profile.objects.get(pk=self.instance.pk)
        self.conflicts = list(outcome.conflicts)
        self.conflict_report = selectors.conflict_report(
            user_id=current.user_id, since=since, viewer_id=self._actor_id(), conflicts=outcome.conflicts,
            started=started, current=self._tag_values(current), touched=touched,
        )
        data = self.data.copy()
        if self.conflict_report.taken:
            # Changes to fields the agent left alone are taken: shown in their fields, and the new base.
            base_values = dict(self.cleaned_data.get("started_from") or {})
            for taken in self.conflict_report.taken:
                field_name = self._field_for_tag(taken.change.wire)
                if field_name is not None:
                    now = current.tag_value(taken.change.wire)
                    data[field_name] = "" if now is None else str(now)
                    base_values[taken.change.wire] = now
            data["started_from"] = json.dumps(base_values)
        data["conflict_base"] = json.dumps({
            "version": current.version, "at": timezone.now().isoformat(),
            "values": {**(base or {}).get("values", {}), **{c.tag: c.remote for c in outcome.conflicts}},
        })
        self.data = data
        self.inform(gettext("Changed in Tencent while you were editing; nothing was sent."), own_panel=True)

    def note_taken(self, *, since: datetime | None, started: Mapping[str, Any], touched: set[str]) -> None:
        """After a save over a copy that changed meanwhile: what changed in tags the agent left alone."""
        current = Profile.objects.get(pk=self.instance.pk)
        self.taken = selectors.conflict_report(
            user_id=current.user_id, since=since, viewer_id=self._actor_id(), started=started,
            current=self._tag_values(current), touched=touched,
        ).taken

    def _actor_id(self) -> int | None:
        return self.actor.pk if self.actor is not None else None
