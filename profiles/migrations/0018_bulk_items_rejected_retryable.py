"""Job items remember whether a failure can pass on a retry (so *Retry failed items* re-queues only
those), and a CSV row the check refused is kept in its job as "rejected by check"."""

from django.db import migrations, models

# Failed items of jobs run before this migration: the ErrorCodes docs/tencent-im.md §6 (and §4: 40006)
# marks for a retry, as the catalogue in profiles/im/errors.py had them when this was written; an item
# with no ErrorCode failed without an answer from Tencent (a timeout, a dropped connection).
RETRYABLE_CODES = [40006, 60007, 60008, 60011, 60013, 60014, 60018, 60019, 70001, 70050, 70169, 70202, 70500]


def mark_retryable_failures(apps, schema_editor):
    items = apps.get_model("profiles", "BulkJobItem").objects.using(schema_editor.connection.alias)
    failed = items.filter(state="failed")
    failed.filter(error_code__in=RETRYABLE_CODES).update(retryable=True)
    # "Not sent: ..." is an item whose values the catalogue refused before sending; that needs a fix.
    failed.filter(error_code=None).exclude(message__startswith="Not sent").update(retryable=True)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0017_reviewers_see_logins")]

    operations = [
        migrations.AddField(
            model_name="bulkjobitem",
            name="retryable",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="bulkjobitem",
            name="state",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"), ("sending", "Sending"), ("retry_wait", "Waiting to retry"),
                    ("succeeded", "Succeeded"), ("failed", "Failed"), ("cancelled", "Cancelled"),
                    ("rejected", "Rejected by check"),
                ],
                default="pending", max_length=16,
            ),
        ),
        migrations.RunPython(mark_retryable_failures, migrations.RunPython.noop),
    ]
