"""im_set and im_check: the same service and audit as the admin, with a one-line reason on failure."""

from __future__ import annotations

import dataclasses
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET
from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db, run_manage

NICK = "Tag_Profile_IM_Nick"

pytestmark = audited_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_im_set_pushes_and_audits_as_the_actor(emulator, remote_user, cast):
    remote_user("u_1")
    output = run("im_set", "u_1", "nick=From the shell", "Tag_Profile_IM_Level=7", "--actor", "editor")
    assert "Nickname" in output and "Level" in output
    assert emulator.profile("u_1")["Tag_Profile_IM_Level"] == 7  # a JSON number on the wire
    row = ImRequest.objects.get(command=PORTRAIT_SET)
    assert row.actor == cast.editor and row.source == ImRequest.Source.COMMAND
    assert Profile.objects.get(user_id="u_1").level == 7


def test_im_set_creates_the_local_copy_of_a_user_it_did_not_know(emulator, cast):
    emulator.add_account("u_new")
    run("im_set", "u_new", "gender=Gender_Type_Female", "--actor", "editor")
    assert Profile.objects.get(user_id="u_new").gender == "Gender_Type_Female"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["u_1", "level=12x"], "not a whole number"),
        (["u_1", "level=4294967296"], "larger than 4294967295"),
        (["u_1", "gender=Robot"], "40605"),
        (["u_1", "colour=red"], "Unknown tag 'colour'"),
        (["u_1", "nick"], "is not TAG=VALUE"),
        (["u_1", "Tag_Profile_Custom_Nope=x"], "40009"),
        (["ü_user", "nick=x"], "Invalid UserID"),
        (["u" * 33, "nick=x"], "Invalid UserID"),
    ],
)
def test_im_set_refuses_bad_input_without_sending(emulator, remote_user, cast, args, reason):
    remote_user("u_1")
    with pytest.raises(CommandError, match=reason):
        run("im_set", *args, "--actor", "editor")
    assert emulator.requests() == [] and not ImRequest.objects.exists()


def test_im_set_needs_an_actor_who_may_change_profiles(emulator, remote_user, cast):
    remote_user("u_1")
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("im_set", "u_1", "nick=x", "--actor", "ghost")
    with pytest.raises(CommandError, match="not allowed"):
        run("im_set", "u_1", "nick=x", "--actor", "auditor")
    assert emulator.requests() == []


def test_im_set_reports_tencents_refusal_in_one_line(emulator, remote_user, cast):
    remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    with pytest.raises(CommandError) as caught:
        run("im_set", "u_1", "nick=rude", "--actor", "editor")
    assert "40005" in str(caught.value) and "\n" not in str(caught.value)
    assert ImRequest.objects.get(command=PORTRAIT_SET).error_code == 40005


def test_im_set_exits_non_zero_with_a_one_line_reason_from_the_shell(emulator, remote_user, cast, settings):
    remote_user("u_1")
    done = run_manage("im_set", "u_1", "gender=Robot", "--actor", "editor")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "40605" in done.stderr
    assert emulator.requests() == []


def test_im_check_succeeds_against_the_emulator_and_is_audited(emulator):
    output = run("im_check")
    assert "OK: credentials accepted" in output
    row = ImRequest.objects.get()
    assert row.command == "im_open_login_svc/account_check" and row.error_code == 0


def test_im_check_names_a_wrong_secret_key(emulator, settings):
    settings.IM = dataclasses.replace(settings.IM, secret_key="wrong-key")
    with pytest.raises(CommandError, match="70009"):
        run("im_check")
    assert ImRequest.objects.get().error_code == 70009


def test_im_check_names_an_unreachable_endpoint(emulator, settings):
    settings.IM = dataclasses.replace(settings.IM, api_base="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="Cannot reach"):
        run("im_check")
    assert ImRequest.objects.get().state == ImRequest.State.TRANSPORT_ERROR


def test_im_set_refuses_when_tencent_changed_since_the_local_copy_and_names_the_conflict(emulator, remote_user, cast):
    remote_user("u_1")  # local copy and Tencent: "old nick"
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    with pytest.raises(CommandError) as caught:
        run("im_set", "u_1", "nick=From the shell", "--actor", "editor")
    message = str(caught.value)
    assert "Nothing sent" in message and NICK in message and "--force" in message
    assert 'local copy "old nick", Tencent now "changed in the app", requested "From the shell"' in message
    assert emulator.requests(PORTRAIT_SET) == [] and emulator.profile("u_1")[NICK] == "changed in the app"


def test_im_set_force_sends_anyway_and_records_tencents_value_as_before(emulator, remote_user, cast):
    remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    run("im_set", "u_1", "nick=From the shell", "--actor", "editor", "--force")
    assert emulator.profile("u_1")[NICK] == "From the shell"
    row = ImRequest.objects.get(command=PORTRAIT_SET)
    assert row.changes == [{"tag": NICK, "before": "changed in the app", "after": "From the shell"}]
    read = ImRequest.objects.get(command=PORTRAIT_GET)
    assert read.note.startswith("Changed in Tencent, overwritten (forced)")


def test_im_set_records_the_os_user_who_ran_it_beside_the_actor(emulator, remote_user, cast):
    import getpass

    remote_user("u_1")
    run("im_set", "u_1", "nick=From the shell", "--actor", "editor")
    row = ImRequest.objects.get(command=PORTRAIT_SET)
    assert row.actor == cast.editor and row.purpose == f"im_set run by OS user {getpass.getuser()}"
