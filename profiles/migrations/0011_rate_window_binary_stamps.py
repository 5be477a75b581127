"""The rate window's send times become packed binary instead of JSON lists.

The window only ever holds the last second's calls, so the old values are dropped rather than
converted: after the migration the first second's calls start from an empty window.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("profiles", "0010_audit_anchor_name")]

    operations = [
        migrations.RemoveField(model_name="ratewindow", name="stamps"),
        migrations.RemoveField(model_name="ratewindow", name="job_stamps"),
        migrations.AddField(model_name="ratewindow", name="stamps", field=models.BinaryField(default=b"")),
        migrations.AddField(model_name="ratewindow", name="job_stamps", field=models.BinaryField(default=b"")),
    ]
