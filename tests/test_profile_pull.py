"""profile_pull: portrait_get in audited batches of 100, per-user failures, typed values, local copies."""

from __future__ import annotations

import pytest

from profiles import services
from profiles.im.client import PORTRAIT_GET
from profiles.im.emulator import Fault
from profiles.im.portrait import parse_profile_items
from profiles.models import CustomTagDefinition, ImRequest, ImRequestSubject, Profile
from profiles.services.localcopy import CopyUpdate, local_copies_store
from profiles.services.pull import readable_tags

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"
BIRTHDAY = "Tag_Profile_IM_BirthDay"
LANGUAGE = "Tag_Profile_IM_Language"
LEVEL = "Tag_Profile_IM_Level"
LOCATION = "Tag_Profile_IM_Location"


def pull(*user_ids: str, actor=None) -> services.PullOutcome:
    return services.profile_pull(user_ids=user_ids, actor=actor, source=ImRequest.Source.COMMAND)


def seed(emulator, count: int, prefix: str = "u_") -> list[str]:
    user_ids = [f"{prefix}{n:03d}" for n in range(count)]
    for user_id in user_ids:
        emulator.add_account(user_id, {NICK: f"nick of {user_id}"})
    return user_ids


def test_250_users_are_read_in_three_audited_calls_of_100_100_and_50(emulator, cast):
    user_ids = seed(emulator, 250)
    outcome = pull(*user_ids, actor=cast.editor)
    assert outcome.ok and outcome.calls == 3
    assert outcome.pulled == user_ids and outcome.created == user_ids
    # The calls are in flight together, so they may arrive in any order.
    sent = sorted(record.body["To_Account"] for record in emulator.requests(PORTRAIT_GET))
    assert sent == [user_ids[:100], user_ids[100:200], user_ids[200:]]
    rows = sorted(ImRequest.objects.filter(command=PORTRAIT_GET), key=lambda row: row.request_body["To_Account"])
    assert len(rows) == 3 and ImRequest.objects.count() == 3
    for row, batch in zip(rows, sent, strict=True):
        assert row.state == ImRequest.State.OK and row.actor == cast.editor and row.source == "command"
        assert row.request_body["To_Account"] == batch
        # A batch call names no single user; its subject rows name every user of that batch.
        assert row.user_id == ""
        assert sorted(row.subjects.values_list("user_id", flat=True)) == sorted(batch)
    assert ImRequestSubject.objects.count() == 250
    assert Profile.objects.count() == 250
    assert Profile.objects.get(user_id="u_249").nick == "nick of u_249"


def test_the_calls_of_a_pull_are_in_flight_together_and_merged_in_order(emulator):
    """Up to PULL_CONCURRENCY portrait_get calls at once: with 0.3 s per answer, four calls arrive
    together rather than 0.3 s apart, and the outcome still lists the users in the order asked."""
    user_ids = seed(emulator, 400)
    emulator.set_latency(0.3)
    outcome = pull(*reversed(user_ids))
    assert outcome.ok and outcome.calls == 4
    assert outcome.pulled == list(reversed(user_ids))
    arrivals = sorted(record.at for record in emulator.requests(PORTRAIT_GET))
    assert arrivals[-1] - arrivals[0] < 0.25, arrivals
    assert ImRequest.objects.filter(command=PORTRAIT_GET, state=ImRequest.State.OK).count() == 4


def test_a_pull_of_one_user_names_it_on_the_audit_row_without_subject_rows(emulator):
    seed(emulator, 1)
    assert pull("u_000").ok
    row = ImRequest.objects.get()
    assert row.user_id == "u_000" and row.command == PORTRAIT_GET and not row.subjects.exists()


def test_unknown_users_fail_with_40003_and_the_others_of_the_batch_are_pulled(emulator):
    emulator.add_account("u_1", {NICK: "one"})
    emulator.add_account("u_3", {NICK: "three"})
    outcome = pull("u_1", "u_2", "u_3", "u_4")
    assert outcome.calls == 1 and not outcome.ok
    assert sorted(outcome.pulled) == ["u_1", "u_3"]
    assert set(outcome.failures) == {"u_2", "u_4"}
    failure = outcome.failures["u_2"]
    assert failure.error_code == 40003 and "does not exist" in failure.reason
    assert failure.describe().startswith("u_2: ErrorCode 40003")
    assert sorted(Profile.objects.values_list("user_id", flat=True)) == ["u_1", "u_3"]
    # The call itself succeeded: only the users failed.
    assert ImRequest.objects.get().state == ImRequest.State.OK
    assert "2 failed" in outcome.message and "u_2" in outcome.message


def test_a_refused_call_fails_every_user_of_its_batch_and_the_other_batches_are_pulled(emulator):
    user_ids = seed(emulator, 150)
    emulator.inject(Fault(kind="error_code", error_code=40006, command=PORTRAIT_GET))
    outcome = pull(*user_ids)
    assert outcome.calls == 2
    # The two calls are in flight together: the fault meets whichever arrives first.
    refused = ImRequest.objects.get(state=ImRequest.State.IM_ERROR)
    accepted = ImRequest.objects.get(state=ImRequest.State.OK)
    failed_batch, pulled_batch = refused.request_body["To_Account"], accepted.request_body["To_Account"]
    assert sorted([failed_batch, pulled_batch]) == [user_ids[:100], user_ids[100:]]
    assert set(outcome.failures) == set(failed_batch)
    assert {failure.error_code for failure in outcome.failures.values()} == {40006}
    assert "internal server error" in outcome.failures[failed_batch[0]].reason
    assert outcome.pulled == pulled_batch
    assert sorted(Profile.objects.values_list("user_id", flat=True)) == sorted(pulled_batch)
    assert refused.error_code == 40006 and refused.subjects.count() == len(failed_batch)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault(kind="http_status", http_status=502, command=PORTRAIT_GET), "HTTP 502"),
        (Fault(kind="drop", command=PORTRAIT_GET), "could not connect"),
        (Fault(kind="not_json", command=PORTRAIT_GET), "not a JSON object"),
    ],
    ids=["http-502", "dropped-connection", "not-json"],
)
def test_a_transport_fault_fails_the_batch_with_no_error_code(emulator, remote_user, fault, reason):
    remote_user("u_1")
    remote_user("u_2")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    emulator.inject(fault)
    outcome = pull("u_1", "u_2")
    assert set(outcome.failures) == {"u_1", "u_2"} and outcome.pulled == []
    assert outcome.failures["u_1"].error_code is None
    assert "no answer from Tencent" in outcome.failures["u_1"].reason and reason in outcome.failures["u_1"].reason
    assert ImRequest.objects.get().state == ImRequest.State.TRANSPORT_ERROR
    copy = Profile.objects.get(user_id="u_1")
    assert copy.nick == "old nick" and copy.last_pulled_at is None and copy.version == 0


def test_a_uint32_arriving_as_a_number_or_as_a_numeric_string_is_stored_as_an_int(emulator):
    emulator.add_account("u_1", {BIRTHDAY: 20190419, LEVEL: "12", LANGUAGE: "0"})
    assert pull("u_1").ok
    copy = Profile.objects.get(user_id="u_1")
    assert copy.birthday == 20190419 and copy.level == 12 and copy.language == 0
    assert type(copy.level) is int and copy.unknown_tags == {}


@pytest.mark.parametrize("garbage", ["abc", "-1", "4294967296", 1.5, True, None])
def test_a_uint32_that_is_not_one_is_kept_in_unknown_tags_and_not_stored(emulator, remote_user, garbage):
    remote_user("u_1", **{LANGUAGE: 3})
    emulator.set_as_user("u_1", {LANGUAGE: garbage})
    outcome = pull("u_1")
    assert outcome.ok
    copy = Profile.objects.get(user_id="u_1")
    assert copy.unknown_tags == {LANGUAGE: garbage}
    assert copy.language == 3  # the last good value stays; it is not overwritten by garbage or None
    assert copy.version == 1


def test_a_string_tag_of_the_wrong_type_is_kept_in_unknown_tags(emulator, remote_user, define_custom_tag):
    define_custom_tag("Mood")
    remote_user("u_1", **{"Tag_Profile_Custom_Mood": "calm"})
    emulator.set_as_user("u_1", {NICK: 42, GENDER: ["Gender_Type_Male"], "Tag_Profile_Custom_Mood": {"x": 1}})
    assert pull("u_1").ok
    copy = Profile.objects.get(user_id="u_1")
    assert copy.unknown_tags == {NICK: 42, GENDER: ["Gender_Type_Male"], "Tag_Profile_Custom_Mood": {"x": 1}}
    assert copy.nick == "old nick" and copy.custom_values == {"Tag_Profile_Custom_Mood": "calm"}


def test_a_tag_that_arrives_well_formed_again_leaves_unknown_tags(emulator, remote_user):
    remote_user("u_1")
    emulator.set_as_user("u_1", {LEVEL: "abc"})
    pull("u_1")
    emulator.set_as_user("u_1", {LEVEL: 5})
    pull("u_1")
    copy = Profile.objects.get(user_id="u_1")
    assert copy.unknown_tags == {} and copy.level == 5


def test_parsing_keeps_tags_nobody_defined_and_values_of_the_wrong_shape_as_unknown():
    definitions = {"Tag_Profile_Custom_Mood": CustomTagDefinition(keyword="Mood")}
    requested = [NICK, GENDER, LOCATION, BIRTHDAY, "Tag_Profile_Custom_Mood"]
    remote = parse_profile_items(
        [
            {"Tag": NICK, "Value": "Ann"},
            {"Tag": GENDER, "Value": 3},
            {"Tag": BIRTHDAY, "Value": "20000101"},
            {"Tag": "Tag_Profile_Custom_Ghost", "Value": "boo"},  # defined in the console only
            {"Tag": "Tag_Profile_Custom_Mood", "Value": "calm"},
            {"Value": "no tag"},
            "not an item",
        ],
        requested=requested,
        custom_tags=definitions,
    )
    assert remote.values == {
        NICK: "Ann", BIRTHDAY: 20000101, "Tag_Profile_Custom_Mood": "calm",
        LOCATION: None,  # requested and missing: not set (docs/tencent-im.md §3)
    }
    assert remote.unknown == {GENDER: 3, "Tag_Profile_Custom_Ghost": "boo"}


def test_parsing_an_answer_that_is_not_a_list_gives_every_requested_tag_as_unset():
    remote = parse_profile_items(None, requested=[NICK], custom_tags={})
    assert remote.values == {NICK: None} and remote.unknown == {}


def test_an_unknown_tag_is_stored_with_the_local_copy(emulator):
    remote = parse_profile_items(
        [{"Tag": NICK, "Value": "Ann"}, {"Tag": "Tag_Profile_Custom_Ghost", "Value": "boo"}],
        requested=[NICK], custom_tags={},
    )
    assert local_copies_store([CopyUpdate("u_1", remote.values, remote.unknown)]).created == ["u_1"]
    copy = Profile.objects.get(user_id="u_1")
    assert copy.nick == "Ann" and copy.unknown_tags == {"Tag_Profile_Custom_Ghost": "boo"}
    assert copy.custom_values == {}


def test_an_unknown_tag_the_pull_did_not_ask_for_is_not_dropped(emulator, remote_user):
    # Reported earlier (a webhook, say) for a tag defined only in the console: a pull cannot re-read
    # it, so it must not erase it either.
    profile = remote_user("u_1")
    Profile.objects.filter(pk=profile.pk).update(
        unknown_tags={"Tag_Profile_Custom_Ghost": "boo", LEVEL: "abc"}
    )
    emulator.set_as_user("u_1", {LEVEL: 7})
    assert pull("u_1").ok
    copy = Profile.objects.get(user_id="u_1")
    assert copy.unknown_tags == {"Tag_Profile_Custom_Ghost": "boo"} and copy.level == 7


def test_a_custom_tag_missing_from_the_answer_is_unset_locally(emulator, remote_user, define_custom_tag):
    define_custom_tag("Mood")
    define_custom_tag("Badge")
    remote_user("u_1", **{"Tag_Profile_Custom_Mood": "calm", "Tag_Profile_Custom_Badge": "gold"})
    emulator.state.accounts["u_1"].pop("Tag_Profile_Custom_Mood")  # cleared in Tencent
    assert pull("u_1").ok
    asked = emulator.requests(PORTRAIT_GET)[-1].body["TagList"]
    assert "Tag_Profile_Custom_Mood" in asked and "Tag_Profile_Custom_Badge" in asked
    copy = Profile.objects.get(user_id="u_1")
    assert copy.custom_values == {"Tag_Profile_Custom_Badge": "gold"}
    assert copy.version == 1


def test_a_standard_tag_missing_from_the_answer_is_unset_locally(emulator, remote_user):
    remote_user("u_1", **{LOCATION: "1234"})
    emulator.state.accounts["u_1"].pop(LOCATION)
    assert pull("u_1").ok
    assert Profile.objects.get(user_id="u_1").location is None


def test_a_custom_tag_without_admin_read_is_not_requested(emulator, remote_user, define_custom_tag):
    define_custom_tag("Mood")
    define_custom_tag("Secret", admin_read=False)
    remote_user("u_1", **{"Tag_Profile_Custom_Secret": "local", "Tag_Profile_Custom_Mood": "calm"})
    emulator.set_as_user("u_1", {"Tag_Profile_Custom_Secret": "remote"})
    outcome = pull("u_1")
    assert outcome.ok, outcome.message  # asking for it would give 40007 for the whole call
    asked = emulator.requests(PORTRAIT_GET)[-1].body["TagList"]
    assert "Tag_Profile_Custom_Secret" not in asked and "Tag_Profile_Custom_Mood" in asked
    assert emulator.requests(PORTRAIT_GET)[-1].error_code == 0
    # Not read, so not touched: the local value is neither replaced nor unset.
    assert Profile.objects.get(user_id="u_1").custom_values["Tag_Profile_Custom_Secret"] == "local"


def test_readable_tags_are_the_12_standard_tags_and_the_admin_readable_custom_ones(define_custom_tag):
    definitions = {
        d.wire_name: d for d in [define_custom_tag("Mood"), define_custom_tag("Secret", admin_read=False)]
    }
    tags = readable_tags(definitions)
    assert len(tags) == 13 and tags[-1] == "Tag_Profile_Custom_Mood" and NICK in tags


def test_local_copies_are_created_for_new_users_and_updated_for_known_ones(emulator, remote_user, cast):
    old = remote_user("u_old", **{GENDER: "Gender_Type_Male"})
    emulator.set_as_user("u_old", {NICK: "renamed in the app"})
    emulator.add_account("u_new", {NICK: "newcomer", LEVEL: 4})
    outcome = pull("u_old", "u_new", actor=cast.editor)
    assert outcome.ok and outcome.pulled == ["u_old", "u_new"] and outcome.created == ["u_new"]
    updated = Profile.objects.get(user_id="u_old")
    assert updated.pk == old.pk and updated.nick == "renamed in the app" and updated.gender == "Gender_Type_Male"
    assert updated.version == 1 and updated.last_pulled_at is not None
    created = Profile.objects.get(user_id="u_new")
    assert created.nick == "newcomer" and created.level == 4 and created.gender is None
    assert created.version == 0 and created.last_pulled_at is not None and created.unknown_tags == {}


def test_the_version_is_bumped_only_when_a_value_changed(emulator, remote_user):
    remote_user("u_1", **{LEVEL: 1})
    pull("u_1")
    first = Profile.objects.get(user_id="u_1")
    assert first.version == 0  # the local copy already had Tencent's values
    assert first.last_pulled_at is not None
    pull("u_1")
    second = Profile.objects.get(user_id="u_1")
    assert second.version == 0 and second.last_pulled_at > first.last_pulled_at
    emulator.set_as_user("u_1", {LEVEL: 2})
    pull("u_1")
    third = Profile.objects.get(user_id="u_1")
    assert third.version == 1 and third.level == 2


def test_duplicate_user_ids_are_read_once(emulator):
    seed(emulator, 2)
    outcome = pull("u_000", "u_001", "u_000")
    assert outcome.pulled == ["u_000", "u_001"]
    assert emulator.requests(PORTRAIT_GET)[-1].body["To_Account"] == ["u_000", "u_001"]


def test_an_invalid_user_id_fails_alone_and_is_never_sent(emulator):
    seed(emulator, 1)
    outcome = pull("u_000", "ü", "x" * 33)
    assert outcome.pulled == ["u_000"]
    assert set(outcome.failures) == {"ü", "x" * 33}
    assert outcome.failures["ü"].error_code is None and "printable ASCII" in outcome.failures["ü"].reason
    assert "33 bytes" in outcome.failures["x" * 33].reason
    assert emulator.requests(PORTRAIT_GET)[-1].body["To_Account"] == ["u_000"]


def test_nothing_is_sent_when_no_user_id_is_valid(emulator):
    outcome = pull("ü")
    assert outcome.calls == 0 and set(outcome.failures) == {"ü"} and emulator.requests() == []


def test_a_copy_changed_locally_during_the_pull_is_left_alone_and_reported(emulator, remote_user, monkeypatch):
    from django.db.models import F

    from profiles.services import pull as pull_module

    remote_user("u_1")
    remote_user("u_2")
    emulator.set_as_user("u_1", {NICK: "stale answer"})
    emulator.set_as_user("u_2", {NICK: "fresh answer"})
    real_remote_read = pull_module.remote_read

    def agent_saves_while_tencent_is_read(**kwargs):
        # An agent's save lands after the pull read the local copies and before it writes them.
        Profile.objects.filter(user_id="u_1").update(nick="agent's save", version=F("version") + 1)
        return real_remote_read(**kwargs)

    monkeypatch.setattr(pull_module, "remote_read", agent_saves_while_tencent_is_read)
    outcome = pull("u_1", "u_2")
    assert outcome.pulled == ["u_2"] and set(outcome.failures) == {"u_1"}
    assert "changed" in outcome.failures["u_1"].reason and "refresh it again" in outcome.failures["u_1"].reason
    kept = Profile.objects.get(user_id="u_1")
    assert kept.nick == "agent's save" and kept.version == 1
    refreshed = Profile.objects.get(user_id="u_2")
    assert refreshed.nick == "fresh answer" and refreshed.version == 1


def test_a_pull_inside_the_callers_transaction_writes_its_copies(emulator, remote_user):
    from django.db import transaction

    remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    emulator.add_account("u_2", {NICK: "newcomer"})
    with transaction.atomic():
        outcome = pull("u_1", "u_2")
    assert outcome.ok and outcome.created == ["u_2"]
    assert dict(Profile.objects.values_list("user_id", "nick")) == {"u_1": "changed in the app", "u_2": "newcomer"}


def test_a_store_compares_again_under_the_lock_when_another_writer_landed_after_its_comparison(
    remote_user, monkeypatch
):
    """A store compares the copies before its write begins; a writer (here a webhook's) that lands
    in between must not be overwritten by values compared against the older copy."""
    from profiles.services import localcopy

    remote_user("u_1", **{GENDER: "Gender_Type_Male"})
    remote_user("u_2")
    real_plan = localcopy._plan
    landed: list[str] = []

    def webhook_lands_after_the_comparison(*args, **kwargs):
        planned = real_plan(*args, **kwargs)
        if not landed:
            landed.append("u_1")
            local_copies_store([CopyUpdate("u_1", {GENDER: "Gender_Type_Female"})])
        return planned

    monkeypatch.setattr(localcopy, "_plan", webhook_lands_after_the_comparison)
    stored = local_copies_store([CopyUpdate("u_1", {NICK: "pulled 1"}), CopyUpdate("u_2", {NICK: "pulled 2"})])
    assert landed and stored.updated == ["u_1", "u_2"]
    both = Profile.objects.get(user_id="u_1")
    assert both.nick == "pulled 1" and both.gender == "Gender_Type_Female" and both.version == 2
    assert Profile.objects.get(user_id="u_2").nick == "pulled 2"
