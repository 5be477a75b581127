"""``profile_push``: the only path to ``v4/profile/portrait_set`` (docs/tencent-im.md §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from .. import labels
from ..errortext import error_text, read_failure_text, transport_reason
from ..im import tags as catalogue
from ..im.client import PORTRAIT_SET, ImClient, ImError, TransportError
from ..models import CustomTagDefinition, ImRequest, Profile
from .gateway import JobCall, im_call
from .localcopy import CopyUpdate, local_copies_store
from .pull import RemoteRead, remote_read
from .validation import validate_tag_values

# What a push says, marked for translation: said in the reader's language, and recorded in English by
# background jobs (profiles.errortext.recorded_text translates those when shown).
COULD_NOT_READ = gettext_noop(
    "Could not read the current profile from Tencent before saving, so nothing was sent: %(why)s"
)
NO_ANSWER = gettext_noop(
    "No answer from Tencent (%(reason)s); the change may or may not have been applied. Saving again is safe: "
    "the same edit sent twice gives the same result."
)
REFUSED = gettext_noop("Tencent refused the change — %(why)s")
REFUSED_SAID = gettext_noop("Tencent refused the change — %(why)s (Tencent said: %(info)s)")
REFUSED_TAG = gettext_noop("Tencent refused the change to %(tag)s — %(why)s")
REFUSED_TAG_SAID = gettext_noop("Tencent refused the change to %(tag)s — %(why)s (Tencent said: %(info)s)")
RECORDED_MESSAGES = (COULD_NOT_READ, NO_ANSWER, REFUSED, REFUSED_SAID, REFUSED_TAG, REFUSED_TAG_SAID)
# Why a push's requests were sent, as their audit rows record it.
CONFLICT_CHECK_PURPOSE = gettext_noop("conflict check before saving")
REVERT_PURPOSE = gettext_noop("revert of request #%(pk)s")
PURPOSES = (CONFLICT_CHECK_PURPOSE, REVERT_PURPOSE)


@dataclass(frozen=True)
class Conflict:
    """One tag that changed in Tencent while an agent was editing it."""

    tag: str
    started: Any  # the value the agent's edit began from
    remote: Any  # Tencent's value now
    yours: Any  # the value the agent wants


@dataclass
class PushOutcome:
    """What happened to one push, in words a caller can show."""

    ok: bool
    user_id: str
    pushed: list[str] = field(default_factory=list)
    audit: ImRequest | None = None
    error_code: int | None = None
    message: str = ""
    # The tag an error concerns, when it can be told (for placing the error on a form field).
    tag: str | None = None
    retryable: bool = False
    # Tags changed in Tencent since the caller's edit began (nothing was sent).
    conflicts: list[Conflict] = field(default_factory=list)
    # The local copy changed since the caller read it: nothing was sent, unless the caller gave
    # ``started_from`` and Tencent showed no conflict with the tags it changed.
    stale: bool = False

    @property
    def sent(self) -> bool:
        return self.audit is not None


def _error_tag(exc: ImError, pushed: dict[str, Any]) -> str | None:
    """Which pushed tag a tag-related ErrorCode concerns, when that can be told."""
    if not exc.info.concerns_tag:
        return None
    text = f"{exc.response.error_info} {exc.response.error_display}"
    named = [tag for tag in pushed if tag in text]
    if len(named) == 1:
        return named[0]
    if len(pushed) == 1:
        return next(iter(pushed))
    # docs/tencent-im.md §2: each standard tag breaks with one code; if only one pushed tag can give it, it is that.
    candidates = [
        tag for tag in pushed
        if (std := catalogue.STANDARD_BY_WIRE.get(tag)) is not None and std.error_code == exc.error_code
    ]
    if exc.error_code in (40008, 40009):
        candidates = [tag for tag in pushed if catalogue.is_custom_tag_name(tag)]
    return candidates[0] if len(candidates) == 1 else None


def profile_push(
    *,
    profile: Profile,
    values: Mapping[str, Any],
    actor: AbstractBaseUser | None,
    source: str,
    started_from: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    send_unchanged: bool = False,
    job: JobCall | None = None,
    reverts: ImRequest | None = None,
    definitions: Mapping[str, CustomTagDefinition] | None = None,
    client: ImClient | None = None,
    force: bool = False,
    purpose: str = "",
    note: str = "",
    tencent_now: Mapping[str, Any] | None = None,
) -> PushOutcome:
    """Push the tags in ``values`` that differ from what the caller started from (docs/tencent-im.md §4).

    - Validates everything first (raises TagValidationError; nothing sent).
    - ``expected_version``: the local copy's version the caller read; if another save changed it
      since, nothing is sent (optimistic locking) — unless ``started_from`` is given too: then
      Tencent's current values decide tag by tag (a change meanwhile to a tag the caller did not
      touch is taken, not a conflict), and the outcome says ``stale``.
    - ``started_from``: the tag values the caller's edit was based on (a form's initial values).
      When given, one audited ``portrait_get`` first compares them with Tencent's current values;
      if anything changed there meanwhile, nothing is sent and the conflicts are returned.
      Without it, the local copy is the base and no remote read is made.
    - Sends only changed tags (all requested tags with ``send_unchanged``: a background job sets
      what it was asked to whatever the local copy says), audits the request, and updates the
      local copy only on success.
    - ``job``: the background job, attempt and purpose this push belongs to (audited with it, and
      rate-limited as background work).
    - ``reverts``: the audited push this one undoes; the new audit row points at it.
    - ``tencent_now``: Tencent's values of these tags as just read (a job reads its items in batches of
      100 before sending them): they are the audit row's "before", and a tag Tencent already holds
      at the requested value is not sent.
    - ``purpose``: why the push was made, for its audit row (a job's or a revert's say it themselves);
      ``note``: what the caller knows about it that the row should record (e.g. the external change
      it overwrites).
    - ``force`` (with ``started_from``): send over the changes found in Tencent instead of refusing;
      the audit row's "before" is still what Tencent held, and the read's note names what was
      overwritten.
    """
    cleaned = validate_tag_values(values, definitions=definitions)

    def base(tag: str) -> Any:
        if started_from is not None and tag in started_from:
            return started_from[tag]
        return profile.tag_value(tag)

    changed = {tag: value for tag, value in cleaned.items() if send_unchanged or not _same(base(tag), value)}
    if not changed:
        return PushOutcome(
            ok=True, user_id=profile.user_id, message=gettext("Nothing changed; nothing was sent to Tencent.")
        )

    stale = False
    if expected_version is not None and profile.pk is not None:
        current = Profile.objects.filter(pk=profile.pk).values_list("version", flat=True).first()
        stale = current != expected_version
        if stale and started_from is None:
            return PushOutcome(
                ok=False, user_id=profile.user_id, stale=True,
                message=gettext(
                    "Someone else saved %(user_id)s after you opened it; nothing was sent. "
                    "Reload to see their change, then make yours again."
                ) % {"user_id": profile.user_id},
            )

    before = {tag: base(tag) for tag in changed}
    if tencent_now is not None:
        held = {tag: value for tag, value in changed.items() if _same(tencent_now.get(tag), value)}
        changed = {tag: value for tag, value in changed.items() if tag not in held}
        if not changed:
            _store_values(profile, held)
            return PushOutcome(
                ok=True, user_id=profile.user_id, message=gettext("Tencent already has these values; nothing was sent.")
            )
        before = {tag: tencent_now.get(tag) for tag in changed}
    if started_from is not None:
        conflicts: list[Conflict] = []

        def conflict_note(read: RemoteRead) -> str:
            # Runs as Tencent's answer arrives: the conflicts found are the read's conclusion, sealed
            # with its audit row, and are kept here for the outcome.
            found = read.profiles.get(profile.user_id)
            if found is None:
                return ""
            remote = found.values
            conflicts.extend(
                Conflict(tag=tag, started=base(tag), remote=remote.get(tag), yours=value)
                for tag, value in changed.items()
                if not _same(base(tag), remote.get(tag)) and not _same(remote.get(tag), value)
            )
            if not conflicts:
                return ""
            return _conflict_note(conflicts, forced=force)

        read = remote_read(user_ids=[profile.user_id], tags=list(changed), actor=actor, source=source,
                           purpose=CONFLICT_CHECK_PURPOSE, conclude=conflict_note, client=client)
        failure = read.failures.get(profile.user_id)
        if failure is not None:
            return PushOutcome(
                ok=False, user_id=profile.user_id, error_code=failure.error_code,
                message=gettext(COULD_NOT_READ) % {"why": read_failure_text(failure)},
            )
        remote = read.profiles[profile.user_id].values
        # A tag that Tencent already holds at the requested value needs no request.
        changed = {tag: value for tag, value in changed.items() if not _same(remote.get(tag), value)}
        if conflicts and not force:
            _store_values(profile, {tag: remote.get(tag) for tag in remote})
            names = labels.describe_tags(conflict.tag for conflict in conflicts)
            return PushOutcome(
                ok=False, user_id=profile.user_id, conflicts=conflicts, stale=stale,
                message=gettext(
                    "%(tags)s changed in Tencent since you opened %(user_id)s; nothing was sent. "
                    "Compare the values below, load Tencent's values, and save again."
                ) % {"tags": names, "user_id": profile.user_id},
            )
        if not changed:
            _store_values(profile, {tag: remote.get(tag) for tag in remote})
            return PushOutcome(
                ok=True, user_id=profile.user_id, stale=stale,
                message=gettext("Tencent already has these values; nothing was sent."),
            )
        before = {tag: remote.get(tag) for tag in changed}

    body = {
        "From_Account": profile.user_id,
        "ProfileItem": [{"Tag": tag, "Value": value} for tag, value in changed.items()],
    }
    changes = [{"tag": tag, "before": before[tag], "after": value} for tag, value in changed.items()]
    try:
        audit, _response = im_call(
            command=PORTRAIT_SET, body=body, actor=actor, source=source, user_id=profile.user_id,
            changes=changes, client=client, reverts=reverts, note=note,
            **(job.call_options() if job else {
                "purpose": REVERT_PURPOSE % {"pk": reverts.pk} if reverts else purpose,
            }),
        )
    except ImError as exc:
        # docs/tencent-im.md §4: any ErrorCode != 0 means nothing was applied; the local copy stays as it was.
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit, error_code=exc.error_code,
            message=_refusal_message(exc, changed),
            tag=_error_tag(exc, changed), retryable=exc.retryable,
        )
    except TransportError as exc:
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit,
            message=gettext(NO_ANSWER) % {"reason": transport_reason(exc.reason)},
            retryable=True,
        )

    _store_values(profile, changed, touched="last_pushed_at")
    return PushOutcome(
        ok=True, user_id=profile.user_id, pushed=list(changed), audit=audit, error_code=0, stale=stale,
        message=gettext("Tencent accepted the change to %(user_id)s: %(tags)s.") % {
            "user_id": profile.user_id, "tags": labels.describe_tags(changed),
        },
    )


def _refusal_message(exc: ImError, changed: Mapping[str, Any]) -> str:
    """Tencent's refusal in words, naming the tag by its label when it can be told; Tencent's own
    ErrorInfo is quoted as it came (it is Tencent's text, often naming the tag its own way)."""
    tag = _error_tag(exc, changed)
    said = exc.response.error_info
    params = {"why": error_text(exc.error_code), "info": said}
    if tag is not None and len(changed) > 1:
        params["tag"] = labels.tag_label(tag)
        return gettext(REFUSED_TAG_SAID if said else REFUSED_TAG) % params
    return gettext(REFUSED_SAID if said else REFUSED) % params


def _conflict_note(conflicts: list[Conflict], *, forced: bool) -> str:
    """The conflict check's conclusion for its audit row, in plain words. A sealed row keeps its note
    for good, so it is written in the site's language (LANGUAGE_CODE), not the reader's of the moment."""
    with translation.override(settings.LANGUAGE_CODE):
        verdict = gettext("Changed in Tencent, overwritten (forced)") if forced else gettext("Conflict, nothing sent")
        custom = labels.custom_labels() if any(catalogue.is_custom_tag_name(c.tag) for c in conflicts) else {}
        found = "; ".join(
            gettext("%(tag)s: started from %(started)s, Tencent has %(remote)s, wanted %(yours)s") % {
                "tag": labels.tag_label(c.tag, custom), "started": _noted(c.tag, c.started),
                "remote": _noted(c.tag, c.remote), "yours": _noted(c.tag, c.yours),
            }
            for c in conflicts
        )
        return f"{verdict} — {found}"


def _noted(tag: str, value: Any) -> str:
    """A value for a note: an enum by its label, text quoted (so spaces and an empty text show)."""
    if value is None or value == "" or not isinstance(value, str):
        return labels.value_label(tag, value)
    standard = catalogue.STANDARD_BY_WIRE.get(tag)
    if standard is not None and value in standard.allowed_values:
        return labels.value_label(tag, value)
    return f"“{value}”"


def _store_values(profile: Profile, values: Mapping[str, Any], *, touched: str | None = None) -> None:
    """Store tag values into the local copy (localcopy: the one writer); ``profile`` then shows
    what was stored, its new version included."""
    update = CopyUpdate(profile.user_id, values, read=profile if profile.pk is not None else None)
    stored = local_copies_store([update], touched=touched).copies[profile.user_id]
    for model_field in Profile._meta.concrete_fields:
        value = getattr(stored, model_field.attname)
        if value is not None or not model_field.primary_key:
            setattr(profile, model_field.attname, value)


def _same(before: Any, after: Any) -> bool:
    # An unknown string (None) and an empty string both mean "nothing there": no request for it.
    if before is None and after == "":
        return True
    return before == after
