"""The audit chain is keyed: new rows are sealed with HMAC-SHA-256 under AUDIT_KEY (format 2) and
cover their actor's account id; the rows already sealed stay format 1 and keep verifying. The
chain's end and archive anchors get signatures (written by the first keyed seal)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("profiles", "0013_job_visibility")]

    operations = [
        migrations.AddField(
            model_name="auditanchor", name="signature", field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditchainhead", name="signature", field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="imrequest", name="actor_pk",
            field=models.PositiveBigIntegerField(blank=True, editable=False, null=True),
        ),
        # The rows sealed so far are format 1; the rows sealed from now on, format 2.
        migrations.AddField(
            model_name="imrequest", name="chain_format",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AlterField(
            model_name="imrequest", name="chain_format",
            field=models.PositiveSmallIntegerField(default=2, editable=False),
        ),
    ]
