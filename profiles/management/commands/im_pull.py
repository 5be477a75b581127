"""Refresh local copies from Tencent (portrait_get), through the same service as the admin."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.im import tags as catalogue
from profiles.management.jobs import follow_job
from profiles.management.users import acting_user
from profiles.models import ImRequest

SHOWN_FAILURES = 5  # failures named in the error; all of them are written to stderr before it


class Command(BaseCommand):
    help = (
        "Refresh local copies from Tencent: im_pull USERID... (at once), or im_pull --all (a background "
        "job that the qcluster workers share)"
    )

    def add_arguments(self, parser):
        parser.add_argument("user_ids", nargs="*", metavar="USERID")
        parser.add_argument(
            "--all", action="store_true",
            help="Refresh every local copy, as a background job in rounds of 1,000 shared by the qcluster workers.",
        )
        parser.add_argument("--wait", action="store_true", help="With --all: follow the job here until it ends.")
        parser.add_argument("--actor", help="Username recorded in the audit trail (default: none, 'system').")

    def handle(self, *args, user_ids: list[str], all: bool, wait: bool, actor: str | None, **options):  # noqa: A002
        if bool(user_ids) == bool(all):
            raise CommandError("Give one or more UserIDs, or --all (not both).")
        if wait and not all:
            raise CommandError("--wait goes with --all (UserIDs given by name are pulled at once).")
        for user_id in user_ids:
            try:
                catalogue.validate_user_id(user_id)
            except ValueError as exc:
                raise CommandError(f"Invalid UserID {user_id!r}: {exc}") from None
        # A pull rewrites local copies: the same permission as refreshing in the admin.
        actor_user = acting_user(actor, to="refresh profiles") if actor else None
        if all:
            job = services.pull_job_create(actor=actor_user, source=ImRequest.Source.COMMAND)
            if job is None:
                self.stdout.write("There are no local copies to refresh; nothing was sent.")
                return
            self.stdout.write(
                f"Job #{job.pk} queued: refresh {job.total} local copies in rounds of {services.jobs.PULL_ROUND}. "
                "The qcluster workers take the rounds; follow it on the job page"
                + (" or here." if wait else ", or run with --wait.")
            )
            if wait:
                follow_job(self, job)
            return
        outcome = services.profile_pull(
            user_ids=user_ids, actor=actor_user, source=ImRequest.Source.COMMAND, purpose="im_pull"
        )
        for failure in outcome.failures.values():
            self.stderr.write(failure.describe())
        failed = len(outcome.failures)
        summary = f"Refreshed {len(outcome.pulled)} profile(s) in {outcome.calls} call(s); {failed} failed."
        if outcome.failures:
            # The error itself names the failed users: a caller of call_command (or a log that keeps
            # only the last line) sees who failed and why, not just how many.
            failures = list(outcome.failures.values())
            shown = "; ".join(failure.describe() for failure in failures[:SHOWN_FAILURES])
            more = f" (and {len(failures) - SHOWN_FAILURES} more above)" if len(failures) > SHOWN_FAILURES else ""
            raise CommandError(f"{summary} {shown}{more}")
        self.stdout.write(self.style.SUCCESS(summary))
