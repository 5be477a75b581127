"""django-q2's own admin pages, read-only: a schedule or a task edited in the browser would run any
function with any arguments as the server's user (``os.system`` among them), so nobody, superusers
included, adds, changes, deletes or resubmits one here. Jobs are started through the app's pages."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success

from .common import ReadOnlyAdmin

READ_ONLY = {
    Schedule: q_admin.ScheduleAdmin,
    Success: q_admin.TaskAdmin,
    Failure: q_admin.FailAdmin,
    OrmQ: q_admin.QueueAdmin,
}


class ReadOnlyTaskAdmin(ReadOnlyAdmin):
    """django-q2's list and detail pages, without its add, change, delete and resubmit."""

    actions = None

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


for model, django_q_admin in READ_ONLY.items():
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, type(f"ReadOnly{django_q_admin.__name__}", (ReadOnlyTaskAdmin, django_q_admin), {}))
