"""The admin's lists filter only by what they offer: a lookup typed into the address that no filter,
date hierarchy or link of the app offers (``?nick__regex=(a+)+$``, seconds of regular expression over
every row) is refused with a 400 naming it, before any query of the list; every link the app itself
generates still works."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import IGNORED_PARAMS
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from profiles.admin.common import OfferedFiltersOnly
from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET
from profiles.models import AuditExport, BulkJob, ExternalChange, ImRequest, Profile
from profiles.services import jobs

from .conftest import audited_db

pytestmark = pytest.mark.django_db

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# Parameters that are not lookups: pages, sorting, search, Django's error flag and facets.
NOT_LOOKUPS = {"p", "e", *IGNORED_PARAMS}


@pytest.fixture
def root(client, cast):
    client.force_login(cast.root)
    return client


def project_admins() -> dict[str, admin.ModelAdmin]:
    """Every change list of the project's admins (django-q2's read-only pages included), by URL."""
    return {
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"): model_admin
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, OfferedFiltersOnly)
    }


@pytest.mark.parametrize(
    ("list_name", "lookup"),
    [
        ("profiles_profile", "nick__regex=(a%2B)%2B$"),
        ("profiles_profile", "user_id__iregex=.*"),
        ("profiles_imrequest", "user_id__regex=(a%2B)%2B$"),
        ("profiles_imrequest", "request_body__icontains=usersig"),
        ("profiles_imrequest", "error_info__startswith=x"),
        ("profiles_externalchange", "body__contains=x"),
        ("profiles_bulkjob", "source_name__regex=x"),
        ("profiles_customtagdefinition", "keyword__regex=x"),
        ("profiles_auditexport", "filter__contains=x"),
        ("django_q_success", "func__regex=x"),
    ],
)
def test_a_lookup_the_list_does_not_offer_is_refused_before_any_query_of_the_list(root, list_name, lookup):
    url = reverse(f"admin:{list_name}_changelist")
    table = project_admins()[url].model._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        response = root.get(f"{url}?{lookup}")
    assert response.status_code == 400
    field = lookup.split("=")[0]
    assert f"Filtering by {field} not allowed" in response.content.decode()
    assert not [q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]


def test_an_export_with_a_lookup_the_list_does_not_offer_is_refused_and_not_recorded(root):
    response = root.get(reverse("admin:profiles_imrequest_export_csv"), {"user_id__regex": "(a+)+$"})
    assert response.status_code == 400 and not AuditExport.objects.exists()
    response = root.get(reverse("admin:profiles_profile_export_csv"), {"nick__regex": "(a+)+$"})
    assert response.status_code == 400


@pytest.fixture
def data(cast):
    """Rows for every list, so each offers its filter choices and date hierarchy."""
    for user_id, gender in [("u_1", "Gender_Type_Female"), ("u_2", "Gender_Type_Male")]:
        profile = Profile(user_id=user_id)
        profile.apply_tag_values({"Tag_Profile_IM_Nick": user_id, "Tag_Profile_IM_Gender": gender})
        profile.save()
    now = datetime.now(UTC)
    rows = [
        ImRequest(created_at=now - timedelta(minutes=n), source="admin", command=PORTRAIT_SET, random=n,
                  user_id="u_1", request_body={}, actor=cast.editor, actor_username="editor",
                  error_code=40005 if n % 2 else 0, action_status="FAIL" if n % 2 else "OK", state="im_error")
        for n in range(205)  # more than the timeline shows, so it links to the audit list
    ]
    ImRequest.objects.bulk_create(rows)
    ImRequest.objects.create(source="command", command=PORTRAIT_GET, random=1, user_id="u_2", request_body={})
    ExternalChange.objects.create(received_at=AT, user_id="u_1", platform="iOS", changes=[], body={})
    ExternalChange.objects.create(received_at=AT + timedelta(days=40), user_id="u_2", platform="Web", changes=[],
                                  body={})
    jobs.job_create(actor=cast.editor, source=BulkJob.Source.COMMAND, source_name="t",
                    rows=[jobs.JobRow(user_id="u_1", values={"Tag_Profile_IM_Level": 1})], enqueue=False)
    AuditExport.objects.create(actor=cast.auditor, actor_username="auditor", format="csv",
                               filter=f"error_code=40005&action_status=FAIL&actor__id__exact={cast.editor.pk}")


def links_on(page: str, base: str) -> list[str]:
    """The page's links that carry a query string, as absolute paths."""
    found = []
    for href in re.findall(r'href="([^"]*)"', page):
        url = urljoin(base, html.unescape(href))
        if urlsplit(url).query and urlsplit(url).path.startswith("/admin/"):
            found.append(url)
    return found


def lookups_of(url: str) -> frozenset[str]:
    return frozenset(name for name, _value in parse_qsl(urlsplit(url).query, keep_blank_values=True)) - NOT_LOOKUPS


@audited_db
def test_every_link_the_app_generates_uses_only_offered_lookups_and_works(root, data, cast):
    admins = project_admins()
    to_visit: list[str] = []
    # The change lists' own links (filter choices, date hierarchy, sorting, pages); the date
    # hierarchy's year → month → day links each lead a level deeper.
    for url in admins:
        level = [url]
        for _depth in range(3):
            found = [link for page in level for link in links_on(root.get(page).content.decode(), page)]
            to_visit += found
            level = list(dict.fromkeys(link for link in found if "__year=" in link and link not in level))[:2]
    # The app's own pages that link into the lists: the dashboard (?error_code=), the timeline (?user_id=),
    # the audit exports' filters, an audit row, and the lists' export links with filters.
    audit_list = reverse("admin:profiles_imrequest_changelist")
    row = ImRequest.objects.filter(error_code=40005).first()
    for page_url in [
        f"{reverse('admin:profiles_imrequest_dashboard')}",
        f"{reverse('admin:profiles_imrequest_timeline')}?user_id=u_1",
        reverse("admin:profiles_auditexport_changelist"),
        reverse("admin:profiles_imrequest_change", args=[row.pk]),
        f"{audit_list}?error_code=40005&actor__id__exact={cast.editor.pk}",
        f"{reverse('admin:profiles_profile_changelist')}?gender__exact=Gender_Type_Male",
    ]:
        to_visit += links_on(root.get(page_url).content.decode(), page_url)
    assert any("?error_code=40005" in link for link in to_visit)  # the dashboard's
    assert any("?user_id=u_1" in link for link in to_visit)  # the timeline's: exactly that UserID
    assert any(link.startswith(f"{audit_list}?error_code=40005&action_status=FAIL") for link in to_visit)
    assert any("received_at__day=" in link for link in to_visit)  # the date hierarchy to its last level

    request = RequestFactory().get("/")
    request.user = cast.root
    followed: set[tuple[str, str]] = set()
    for url in dict.fromkeys(to_visit):
        path = urlsplit(url).path
        model_admin = admins.get(path)
        if model_admin is not None:
            assert lookups_of(url) <= model_admin.offered_lookups(request), url
        # Following one link per page and lookup is enough (the ErrorCode filter alone offers a link
        # per catalogued code, sorting one per column); every link's lookups were checked above.
        keys = {(path, name) for name in lookups_of(url) or {""}}
        if keys <= followed:
            continue
        followed |= keys
        response = root.get(url)
        assert response.status_code == 200, (url, response.status_code, response.get("Location"))
        if response.streaming:
            b"".join(response.streaming_content)
    assert len(followed) > 30, followed
