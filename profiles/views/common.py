"""What the admin's own pages share: their template context and how a ModelAdmin wires them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path


def page_context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    """The admin's context for a page of ``model_admin``'s model (site header, sidebar, breadcrumbs)."""
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "title": title, **extra}


def admin_path(
    route: str, model_admin: admin.ModelAdmin, view: Callable[..., HttpResponse], name: str
) -> URLPattern:
    """The URL of a page ``view(model_admin, request, ...)``, behind the admin site's login and CSRF checks."""
    return path(route, model_admin.admin_site.admin_view(functools.partial(view, model_admin)), name=name)
