"""im_pull: refresh local copies from the command line, through the same service as the admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from profiles.im.client import PORTRAIT_GET
from profiles.management.commands import im_pull
from profiles.models import ImRequest, Profile
from profiles.services import pull

from .conftest import audited_db, child_env, needs_fork, run_manage

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("im_pull", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def local_and_remote(emulator, count: int) -> list[str]:
    """``count`` users known to Tencent, each with a stale local copy."""
    user_ids = [f"u_{n:04d}" for n in range(count)]
    for user_id in user_ids:
        emulator.add_account(user_id, {NICK: f"fresh {user_id}"})
    Profile.objects.bulk_create([Profile(user_id=user_id, nick="stale") for user_id in user_ids])
    return user_ids


def test_it_refreshes_the_users_named(emulator, remote_user, cast):
    remote_user("u_1")
    remote_user("u_2")
    remote_user("u_3")
    emulator.set_as_user("u_1", {NICK: "one"})
    emulator.set_as_user("u_2", {NICK: "two"})
    emulator.set_as_user("u_3", {NICK: "three"})
    out, err = run("u_1", "u_2", "--actor", "editor")
    assert "Refreshed 2 profile(s) in 1 call(s); 0 failed." in out and err == ""
    assert dict(Profile.objects.values_list("user_id", "nick")) == {"u_1": "one", "u_2": "two", "u_3": "old nick"}
    row = ImRequest.objects.get()
    assert row.command == PORTRAIT_GET and row.source == "command" and row.actor == cast.editor
    assert sorted(row.subjects.values_list("user_id", flat=True)) == ["u_1", "u_2"]


def test_it_creates_the_local_copy_of_a_user_it_did_not_know(emulator):
    emulator.add_account("u_new", {NICK: "newcomer"})
    run("u_new")
    assert Profile.objects.get(user_id="u_new").nick == "newcomer"
    assert ImRequest.objects.get().actor is None


def test_all_refreshes_250_local_copies_in_3_calls(emulator):
    user_ids = local_and_remote(emulator, 250)
    out, _err = run("--all")
    assert "Refreshed 250 profile(s) in 3 call(s); 0 failed." in out
    assert sorted(len(r.body["To_Account"]) for r in emulator.requests(PORTRAIT_GET)) == [50, 100, 100]
    assert ImRequest.objects.filter(command=PORTRAIT_GET).count() == 3
    assert set(Profile.objects.values_list("nick", flat=True)) == {f"fresh {u}" for u in user_ids}
    assert not Profile.objects.filter(last_pulled_at=None).exists()


def test_all_walks_the_local_copies_in_rounds_and_reports_progress(emulator, monkeypatch):
    monkeypatch.setattr(im_pull, "ALL_BATCH", 120)
    local_and_remote(emulator, 250)
    out, _err = run("--all", "--processes", "1")
    # Rounds of 120, 120 and 10 copies: 2 + 2 + 1 calls, every copy read exactly once.
    # The calls of a round are in flight together; the rounds follow one another.
    sizes = [len(r.body["To_Account"]) for r in emulator.requests(PORTRAIT_GET)]
    assert [sorted(sizes[:2]), sorted(sizes[2:4]), sizes[4:]] == [[20, 100], [20, 100], [10]]
    sent = [u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"]]
    assert len(sent) == len(set(sent)) == 250
    assert "120 refreshed so far (2 calls)" in out and "250 refreshed so far (5 calls)" in out


def test_all_with_no_local_copies_sends_nothing(emulator):
    out, _err = run("--all")
    assert "Refreshed 0 profile(s) in 0 call(s)" in out and emulator.requests() == []


def test_a_user_that_fails_makes_it_fail_naming_the_user(emulator, remote_user):
    remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "refreshed anyway"})
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("im_pull", "u_1", "u_ghost", stdout=StringIO(), stderr=err)
    message = str(caught.value)
    assert "1 failed" in message and "u_ghost" in message and "40003" in message
    assert "u_ghost: ErrorCode 40003" in err.getvalue()
    # The others are refreshed all the same.
    assert Profile.objects.get(user_id="u_1").nick == "refreshed anyway"
    assert not Profile.objects.filter(user_id="u_ghost").exists()


def test_a_failure_exits_non_zero_from_the_shell(emulator, remote_user, settings):
    remote_user("u_1")
    done = run_manage("im_pull", "u_1", "u_ghost")
    assert done.returncode == 1
    assert "u_ghost" in done.stderr and "40003" in done.stderr
    assert len(emulator.requests(PORTRAIT_GET)) == 1


@pytest.mark.parametrize("args", [(), ("u_1", "--all")], ids=["neither", "both"])
def test_it_needs_user_ids_or_all_but_not_both(emulator, args):
    with pytest.raises(CommandError, match="one or more UserIDs, or --all"):
        run(*args)
    assert emulator.requests() == []


@pytest.mark.parametrize(("user_id", "problem"), [("x" * 33, "33 bytes"), ("ü", "printable ASCII")])
def test_an_invalid_user_id_is_refused_before_anything_is_sent(emulator, user_id, problem):
    with pytest.raises(CommandError, match=f"Invalid UserID.*{problem}"):
        run("u_1", user_id)
    assert emulator.requests() == [] and not ImRequest.objects.exists()


def test_an_unknown_actor_is_refused_before_anything_is_sent(emulator):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("u_1", "--actor", "ghost")
    assert emulator.requests() == []


def test_an_actor_who_may_not_change_profiles_is_refused(emulator, cast):
    with pytest.raises(CommandError, match="'auditor' is not allowed"):
        run("u_1", "--actor", "auditor")
    assert emulator.requests() == []
    out, _err = run_ok_as_editor(emulator)
    assert "Refreshed 1 profile(s)" in out


def run_ok_as_editor(emulator) -> tuple[str, str]:
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "x"})
    return run("u_1", "--actor", "editor")


def record_pids(monkeypatch, path: Path, *, fail_for: str | None = None, kill_for: str | None = None) -> None:
    """profile_pull, wrapped to note the process of each round (and break the round holding a user)."""
    original = pull.profile_pull

    def noted(*, user_ids, **kwargs):
        with path.open("a") as out:
            out.write(f"{os.getpid()}\n")
        if fail_for in user_ids:
            raise RuntimeError("the local copies could not be read")
        if kill_for in user_ids:
            os._exit(3)
        return original(user_ids=user_ids, **kwargs)

    monkeypatch.setattr(pull, "profile_pull", noted)



@needs_fork
def test_all_shares_the_rounds_among_worker_processes(emulator, monkeypatch, tmp_path):
    monkeypatch.setattr(im_pull, "ALL_BATCH", 50)
    record_pids(monkeypatch, tmp_path / "pids")
    user_ids = local_and_remote(emulator, 250)
    out, err = run("--all", "--processes", "2")
    assert "Refreshed 250 profile(s) in 5 call(s); 0 failed." in out and err == ""
    assert "250 refreshed so far (5 calls)" in out
    pids = (tmp_path / "pids").read_text().split()
    assert len(pids) == 5 and len(set(pids)) == 2 and str(os.getpid()) not in pids
    sent = [u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"]]
    assert sorted(sent) == user_ids  # each exactly once
    assert ImRequest.objects.filter(command=PORTRAIT_GET, state=ImRequest.State.OK).count() == 5
    assert set(Profile.objects.values_list("nick", flat=True)) == {f"fresh {u}" for u in user_ids}


@needs_fork
def test_all_from_the_shell_shares_the_rounds_among_workers_and_refreshes_everything(emulator):
    user_ids = local_and_remote(emulator, 3500)  # rounds of 1,000, 1,000, 1,000 and 500: two each
    done = run_manage("im_pull", "--all", "--processes", "2")
    assert done.returncode == 0, done.stderr
    assert "Refreshed 3500 profile(s) in 35 call(s); 0 failed." in done.stdout and done.stderr == ""
    assert sorted(u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"]) == user_ids
    assert ImRequest.objects.filter(command=PORTRAIT_GET, state=ImRequest.State.OK).count() == 35
    assert not Profile.objects.exclude(nick__startswith="fresh").exists()


@needs_fork
def test_ctrl_c_stops_the_workers_between_rounds_never_inside_a_call(emulator):
    local_and_remote(emulator, 6000)  # 6 rounds: each worker has two at most when Ctrl-C comes
    emulator.set_latency(0.2)  # each round of 10 calls takes about 0.6 s
    command = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "manage.py", "im_pull", "--all", "--processes", "2"], env=child_env(),
        cwd=django_settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not emulator.requests(PORTRAIT_GET) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(command.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the command and its workers
    _out, err = command.communicate(timeout=60)
    assert command.returncode != 0
    assert b"Traceback" not in err  # neither the command nor a worker died of the KeyboardInterrupt
    assert b"Interrupted: " in err and b"Run it again" in err
    sent = emulator.requests(PORTRAIT_GET)
    # The workers finished the rounds they had (two each at most), every one of them whole: each
    # call has its completed audit row, and every user Tencent answered for is stored.
    assert 0 < len(sent) <= 40 and len(sent) % 10 == 0
    rows = ImRequest.objects.filter(command=PORTRAIT_GET)
    assert rows.count() == len(sent) and set(rows.values_list("state", flat=True)) == {ImRequest.State.OK}
    assert Profile.objects.filter(nick__startswith="fresh").count() == 100 * len(sent)


@needs_fork
@pytest.mark.parametrize(
    ("breakage", "reason"),
    [("fail_for", "its worker process failed: RuntimeError: the local copies could not be read"),
     ("kill_for", "its worker process ended (exit code 3)")],
    ids=["raised", "ended"],
)
def test_a_round_whose_worker_process_failed_is_reported_user_by_user(
    emulator, monkeypatch, tmp_path, breakage, reason
):
    monkeypatch.setattr(im_pull, "ALL_BATCH", 50)
    user_ids = local_and_remote(emulator, 200)
    record_pids(monkeypatch, tmp_path / "pids", **{breakage: user_ids[0]})
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("im_pull", "--all", "--processes", "2", stdout=StringIO(), stderr=err)
    failed = {line.split(":")[0] for line in err.getvalue().splitlines()}
    # The broken round's 50 users (and at most one more round the failed process had queued) are
    # named with the reason; every other round was refreshed by the process that was left.
    assert set(user_ids[:50]) <= failed and len(failed) in (50, 100)
    assert f"{user_ids[0]}: not refreshed: {reason}" in err.getvalue()
    assert f"{len(failed)} failed" in str(caught.value)
    refreshed = set(Profile.objects.filter(nick__startswith="fresh").values_list("user_id", flat=True))
    assert refreshed == set(user_ids) - failed


@pytest.mark.parametrize(
    ("args", "problem"),
    [(("--all", "--processes", "0"), "between 1 and 32, not 0"),
     (("u_1", "--processes", "2"), "--processes goes with --all")],
    ids=["zero", "without-all"],
)
def test_processes_is_checked(emulator, args, problem):
    with pytest.raises(CommandError, match=problem):
        run(*args)
    assert emulator.requests() == []
