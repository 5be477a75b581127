"""Push an edit to one user's profile from the command line, through the same service as the admin."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.csvio import csv_check, csv_job_rows
from profiles.im import tags as catalogue
from profiles.management.jobs import follow_job
from profiles.management.users import acting_user, os_user
from profiles.models import BulkJob, ImRequest, Profile
from profiles.uploads import file_refusal


class Command(BaseCommand):
    help = (
        "Set tags on a Tencent IM profile: im_set USERID TAG=VALUE... --actor USERNAME; "
        "or queue a background job from a CSV file: im_set --csv FILE --actor USERNAME [--wait]"
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", nargs="?", help="The Tencent IM UserID.")
        parser.add_argument(
            "assignments", nargs="*", metavar="TAG=VALUE",
            help="A wire name (Tag_Profile_IM_Nick), a short name (nick) or Tag_Profile_Custom_<kw>, "
            "then = and the value.",
        )
        parser.add_argument("--actor", required=True, help="Username of the staff member making the edit.")
        parser.add_argument("--csv", metavar="FILE", help="A CSV file (UserID column + tag columns): run as a job.")
        parser.add_argument("--skip-bad", action="store_true", help="With --csv: queue the good rows even if "
                            "some rows are bad (they are listed, and kept in the job's results as rejected by check).")
        parser.add_argument("--wait", action="store_true", help="With --csv: follow the job to its end.")
        parser.add_argument(
            "--force", action="store_true",
            help="Send even if Tencent's value changed since the local copy was read (the audit row records "
            "Tencent's value as before).",
        )

    def handle(self, *args, user_id: str | None, assignments: list[str], actor: str, csv: str | None,
               skip_bad: bool, wait: bool, force: bool, **options):
        actor_user = acting_user(actor, to="change profiles")
        if csv:
            if user_id or assignments:
                raise CommandError("Give either --csv FILE or USERID TAG=VALUE..., not both.")
            self._csv_job(Path(csv), actor_user, skip_bad=skip_bad, wait=wait)
            return
        if not user_id or not assignments:
            raise CommandError("Give USERID and at least one TAG=VALUE (or --csv FILE).")
        try:
            catalogue.validate_user_id(user_id)
        except ValueError as exc:
            raise CommandError(f"Invalid UserID {user_id!r}: {exc}") from None

        values: dict[str, object] = {}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            if not sep:
                raise CommandError(f"{assignment!r} is not TAG=VALUE.")
            try:
                wire_name = catalogue.resolve_tag_name(name.strip())
                values[wire_name] = catalogue.parse_text_value(wire_name, text)
            except catalogue.TagValueError as exc:
                raise CommandError(f"{exc.tag}: {exc.message}") from None
            except ValueError as exc:
                raise CommandError(str(exc)) from None

        profile = Profile.objects.filter(user_id=user_id).first() or Profile(user_id=user_id)
        try:
            # What the operator starts from is the local copy: Tencent's current values are compared
            # with it first, as the admin form compares them with what the agent opened.
            outcome = services.profile_push(
                profile=profile, values=values, actor=actor_user, source=ImRequest.Source.COMMAND,
                started_from={tag: profile.tag_value(tag) for tag in values}, force=force,
                # --actor names the staff member; the machine's account that ran it is recorded beside.
                purpose=f"im_set run by OS user {os_user()}"[:64],
            )
        except services.TagValidationError as exc:
            raise CommandError(f"Nothing sent: {exc}") from None
        if outcome.conflicts:
            conflicts = "; ".join(
                f"{c.tag}: local copy {json.dumps(c.started, ensure_ascii=False)}, Tencent now "
                f"{json.dumps(c.remote, ensure_ascii=False)}, requested {json.dumps(c.yours, ensure_ascii=False)}"
                for c in outcome.conflicts
            )
            raise CommandError(
                f"Nothing sent: {user_id} changed in Tencent since the local copy was read — {conflicts}. "
                f"Refresh it (im_pull {user_id}) and decide, or send anyway with --force."
            )
        if not outcome.ok:
            raise CommandError(outcome.message)
        self.stdout.write(outcome.message)

    def _csv_job(self, path: Path, actor_user, *, skip_bad: bool, wait: bool) -> None:
        if not actor_user.has_perm("profiles.run_bulkjob"):
            raise CommandError(f"User {actor_user.get_username()!r} is not allowed to start bulk jobs.")
        # Before reading a byte: /dev/zero or a pipe would never end, a huge file would take long.
        refusal = file_refusal(path)
        if refusal:
            raise CommandError(refusal)
        try:
            with path.open("rb") as stream:
                check = csv_check(stream)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        if check.problems:
            raise CommandError(f"{path.name} cannot be used: " + " ".join(check.problems))
        for bad in check.bad_rows[:20]:
            self.stderr.write(f"line {bad.line} ({bad.user_id or 'no UserID'}): {bad.reason}")
        if check.bad > 20:
            self.stderr.write(f"... and {check.bad - 20} more bad rows")
        if check.good == 0:
            raise CommandError(f"{path.name}: no good rows ({check.bad} bad); nothing queued.")
        if check.bad and not skip_bad:
            raise CommandError(
                f"{path.name}: {check.bad} bad row(s), {check.good} good; fix them or pass --skip-bad "
                "to queue only the good rows. Nothing queued."
            )
        with path.open("rb") as stream:
            job = services.job_create(
                actor=actor_user, source=BulkJob.Source.CSV, source_name=path.name, rows=csv_job_rows(stream),
            )
        self.stdout.write(f"Job #{job.pk} queued: {job.total} row(s) from {path.name}"
                          + (f" ({check.bad} bad row(s) skipped)." if check.bad else "."))
        if wait:
            follow_job(self, job)
