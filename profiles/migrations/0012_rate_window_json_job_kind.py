"""The rate window's send times are JSON lists again (read and written through the ORM), and a job
has a kind: an edit pushed to Tencent, or a refresh pulled from it.

The window only ever holds the last second's calls, so the old values are dropped rather than
converted: after the migration the first second's calls start from an empty window.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("profiles", "0011_rate_window_binary_stamps")]

    operations = [
        migrations.RemoveField(model_name="ratewindow", name="stamps"),
        migrations.RemoveField(model_name="ratewindow", name="job_stamps"),
        migrations.AddField(model_name="ratewindow", name="stamps", field=models.JSONField(default=list)),
        migrations.AddField(model_name="ratewindow", name="job_stamps", field=models.JSONField(default=list)),
        migrations.AddField(
            model_name="bulkjob",
            name="kind",
            field=models.CharField(
                choices=[("push", "Set fields in Tencent"), ("pull", "Refresh from Tencent")],
                default="push", max_length=8,
            ),
        ),
    ]
