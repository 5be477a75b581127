"""Refresh local copies from Tencent (portrait_get), through the same service as the admin."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.im import tags as catalogue
from profiles.management.users import acting_user
from profiles.models import ImRequest, Profile

ALL_BATCH = 1000  # local copies read per round with --all; each round makes up to 10 calls of 100
MAX_PROCESSES = 32
SHOWN_FAILURES = 5  # failures named in the error; all of them are written to stderr before it


class Command(BaseCommand):
    help = "Refresh local copies from Tencent: im_pull USERID... or im_pull --all"

    def add_arguments(self, parser):
        parser.add_argument("user_ids", nargs="*", metavar="USERID")
        parser.add_argument("--all", action="store_true", help="Refresh every local copy, in batches.")
        parser.add_argument("--actor", help="Username recorded in the audit trail (default: none, 'system').")
        parser.add_argument(
            "--processes", type=int, default=None, metavar="N",
            help=f"With --all: worker processes sharing the rounds (default {services.PULL_PROCESSES}, "
            "the CPUs this process may use, up to 4; 1 pulls in this process).",
        )

    def handle(
        self, *args, user_ids: list[str], all: bool, actor: str | None, processes: int | None,  # noqa: A002
        **options,
    ):
        if bool(user_ids) == bool(all):
            raise CommandError("Give one or more UserIDs, or --all (not both).")
        if processes is not None and not all:
            raise CommandError("--processes goes with --all (UserIDs given by name are pulled in one round).")
        if processes is not None and not 1 <= processes <= MAX_PROCESSES:
            raise CommandError(f"--processes must be between 1 and {MAX_PROCESSES}, not {processes}.")
        for user_id in user_ids:
            try:
                catalogue.validate_user_id(user_id)
            except ValueError as exc:
                raise CommandError(f"Invalid UserID {user_id!r}: {exc}") from None
        # A pull rewrites local copies: the same permission as refreshing in the admin.
        actor_user = acting_user(actor, to="refresh profiles") if actor else None
        batches = [user_ids] if user_ids else self._all_batches()
        pulled = calls = 0
        failures: dict[str, services.PullFailure] = {}
        # Rounds in worker processes (each with one set of threads, and their database
        # connections, for all of its rounds), or here.
        outcomes = services.pull_rounds(
            batches, actor=actor_user, source=ImRequest.Source.COMMAND, purpose="im_pull",
            processes=services.PULL_PROCESSES if processes is None else processes,
        )
        try:
            for outcome in outcomes:
                pulled += len(outcome.pulled)
                calls += outcome.calls
                failures.update(outcome.failures)
                if all:
                    self.stdout.write(f"  {pulled} refreshed so far ({calls} calls)")
        except KeyboardInterrupt:
            outcomes.close()  # the workers finish the rounds they have, then end
            raise CommandError(
                f"Interrupted: {pulled} profile(s) refreshed in {calls} call(s) so far, and the rounds under way "
                "were finished; the others were not refreshed. Run it again to refresh them."
            ) from None
        for failure in failures.values():
            self.stderr.write(failure.describe())
        summary = f"Refreshed {pulled} profile(s) in {calls} call(s); {len(failures)} failed."
        if failures:
            # The error itself names the failed users: a caller of call_command (or a log that keeps
            # only the last line) sees who failed and why, not just how many.
            shown = "; ".join(failure.describe() for failure in list(failures.values())[:SHOWN_FAILURES])
            more = f" (and {len(failures) - SHOWN_FAILURES} more above)" if len(failures) > SHOWN_FAILURES else ""
            raise CommandError(f"{summary} {shown}{more}")
        self.stdout.write(self.style.SUCCESS(summary))

    def _all_batches(self):
        # Keyset pagination on the primary key: bounded memory however many local copies exist.
        last_pk = 0
        while True:
            rows = list(
                Profile.objects.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "user_id")[:ALL_BATCH]
            )
            if not rows:
                return
            last_pk = rows[-1][0]
            yield [user_id for _pk, user_id in rows]
