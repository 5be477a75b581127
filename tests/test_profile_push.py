"""profile_push: validation before sending, only changed tags, audit rows, local copy on success."""

from __future__ import annotations

import pytest
from django.db import transaction

from profiles import services
from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db


def push(profile, actor=None, **values):
    return services.profile_push(profile=profile, values=values, actor=actor, source=ImRequest.Source.COMMAND)


def test_it_sends_only_the_changed_tags_and_updates_the_local_copy(emulator, remote_user, cast):
    profile = remote_user("u_1", Tag_Profile_IM_Gender="Gender_Type_Male")
    outcome = services.profile_push(
        profile=profile,
        values={"Tag_Profile_IM_Nick": "new nick", "Tag_Profile_IM_Gender": "Gender_Type_Male"},
        actor=cast.editor, source=ImRequest.Source.ADMIN,
    )
    assert outcome.ok and outcome.pushed == ["Tag_Profile_IM_Nick"]
    sent = emulator.requests("profile/portrait_set")
    assert [item["Tag"] for item in sent[-1].body["ProfileItem"]] == ["Tag_Profile_IM_Nick"]
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "new nick"
    assert Profile.objects.get(user_id="u_1").nick == "new nick"
    row = ImRequest.objects.get()
    assert row.state == ImRequest.State.OK and row.error_code == 0 and row.action_status == "OK"
    assert row.actor == cast.editor and row.actor_username == "editor" and row.source == "admin"
    assert row.changes == [{"tag": "Tag_Profile_IM_Nick", "before": "old nick", "after": "new nick"}]
    assert row.request_body == {
        "From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "new nick"}]
    }
    assert row.random == int(sent[-1].query["random"]) and row.latency_ms > 0 and row.http_status == 200


def test_it_sends_nothing_when_a_value_is_invalid(emulator, remote_user):
    profile = remote_user("u_1")
    with pytest.raises(services.TagValidationError) as caught:
        push(profile, Tag_Profile_IM_Nick="fine", Tag_Profile_IM_Gender="Gender_Type_Robot")
    assert set(caught.value.errors) == {"Tag_Profile_IM_Gender"}
    assert emulator.requests() == [] and ImRequest.objects.count() == 0


def test_it_sends_nothing_when_nothing_changed(emulator, remote_user):
    outcome = push(remote_user("u_1"), Tag_Profile_IM_Nick="old nick")
    assert outcome.ok and not outcome.sent and emulator.requests() == []


def test_an_im_error_keeps_the_audit_row_and_the_local_copy(emulator, remote_user):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    outcome = push(profile, Tag_Profile_IM_Nick="bad words")
    assert not outcome.ok and outcome.error_code == 40005
    assert "40005" in outcome.message and "sensitive" in outcome.message
    row = ImRequest.objects.get()
    assert row.state == ImRequest.State.IM_ERROR and row.error_code == 40005 and row.action_status == "FAIL"
    assert Profile.objects.get(user_id="u_1").nick == "old nick"


def test_a_transport_error_keeps_the_audit_row(emulator, remote_user):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="http_status", http_status=502))
    outcome = push(profile, Tag_Profile_IM_Nick="new")
    assert not outcome.ok and outcome.retryable and outcome.error_code is None
    row = ImRequest.objects.get()
    assert row.state == ImRequest.State.TRANSPORT_ERROR and row.http_status == 502
    assert "HTTP 502" in row.transport_error
    assert Profile.objects.get(user_id="u_1").nick == "old nick"


def test_the_audit_row_survives_a_rollback_of_the_callers_transaction(emulator, remote_user):
    profile = remote_user("u_1")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        push(profile, Tag_Profile_IM_Nick="inside atomic")
        raise Boom
    row = ImRequest.objects.get()
    assert row.state == ImRequest.State.OK and row.changes[0]["after"] == "inside atomic"


def test_the_usersig_never_reaches_the_audit_row(emulator, remote_user):
    push(remote_user("u_1"), Tag_Profile_IM_Nick="x")
    from profiles.services import im_client

    usersig = im_client().usersig.get()
    row = ImRequest.objects.values().get()
    assert usersig not in repr(row)


def test_a_push_stores_its_tags_in_one_update_and_bumps_the_version(emulator, remote_user):
    profile = remote_user("u_1")
    version = profile.version
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections["autocommit"]) as service:
        assert push(profile, Tag_Profile_IM_Nick="one statement").ok
    profile_writes = [q["sql"] for q in service.captured_queries if "profiles_profile" in q["sql"]]
    assert len(profile_writes) == 1 and profile_writes[0].startswith("UPDATE")
    # Standard tags only: the custom tag definitions are not read.
    assert not [q for q in service.captured_queries if "customtagdefinition" in q["sql"]]
    stored = Profile.objects.get(user_id="u_1")
    assert stored.nick == "one statement" and stored.version == version + 1 == profile.version


def test_a_push_from_a_copy_read_before_another_writer_keeps_that_writers_change(emulator, remote_user):
    """The copy in hand is older than the stored one (a webhook changed another tag meanwhile): the
    push's store must not write the old values back over that change."""
    profile = remote_user("u_1", Tag_Profile_IM_Gender="Gender_Type_Male")
    services.local_copies_store([services.CopyUpdate("u_1", {"Tag_Profile_IM_Gender": "Gender_Type_Female"})])
    assert push(profile, Tag_Profile_IM_Nick="after the webhook").ok
    stored = Profile.objects.get(user_id="u_1")
    assert stored.nick == "after the webhook" and stored.gender == "Gender_Type_Female"
    assert stored.version == profile.version
