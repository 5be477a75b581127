"""Values typed into the admin's addresses never crash a page: each gets the list without its filters
and a message naming the problem, a form error, or a 404 — never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from profiles.im.client import PORTRAIT_SET
from profiles.models import AuditExport, ImRequest

pytestmark = pytest.mark.django_db

AUDIT_LIST = reverse("admin:profiles_imrequest_changelist")
EXTERNAL_LIST = reverse("admin:profiles_externalchange_changelist")
PROFILE_LIST = reverse("admin:profiles_profile_changelist")
DASHBOARD = reverse("admin:profiles_imrequest_dashboard")


@pytest.fixture
def root(client, cast):
    client.force_login(cast.root)
    client.raise_request_exception = False  # a crash must show as the 500 a browser would get
    return client


def audit_rows(count: int) -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    ImRequest.objects.bulk_create(
        ImRequest(created_at=at + timedelta(seconds=n), source="admin", command=PORTRAIT_SET, random=n,
                  user_id=f"u_{n}", request_body={})
        for n in range(count)
    )


def refused_with_message(client, url: str, list_url: str, messages_of) -> str:
    """The page the browser ends on: the list without filters (?e=1) and the message saying why."""
    response = client.get(url)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"{list_url}?e=1"
    page = client.get(response["Location"])
    assert page.status_code == 200
    return " ".join(messages_of(page))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("error_code=--1", "error_code='--1': an ErrorCode is a whole number."),
        ("error_code=%C2%B2", "error_code='²': an ErrorCode is a whole number."),
        ("state__exact=%00", "The filter state__exact has a control character (U+0000)"),
        ("actor__id__exact=abc", "The list is shown without the filters of that address."),
    ],
)
def test_a_bad_audit_filter_value_is_explained_on_the_list(root, messages_of, query, reason):
    assert reason in refused_with_message(root, f"{AUDIT_LIST}?{query}", AUDIT_LIST, messages_of)


def test_a_huge_page_number_is_explained_without_counting_or_skipping_that_many_rows(root, messages_of):
    audit_rows(150)  # two pages
    with CaptureQueriesContext(connection) as queries:
        response = root.get(AUDIT_LIST, {"p": "99999999999999999999999"})
    assert response.status_code == 302 and response["Location"] == f"{AUDIT_LIST}?e=1"
    numbers = [int(n) for q in queries.captured_queries for n in re.findall(r"(?:LIMIT|OFFSET) (\d+)", q["sql"])]
    assert numbers and max(numbers) <= (1000 + 9) * 100 + 1
    message = " ".join(messages_of(root.get(response["Location"])))
    assert "Page 99999999999999999999999: the list shows at most 1,000 pages" in message


def test_a_page_past_the_end_within_the_limit_is_explained(root, messages_of):
    audit_rows(150)
    assert "Page 3: That page contains no results" in refused_with_message(
        root, f"{AUDIT_LIST}?p=3", AUDIT_LIST, messages_of
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("received_at__year=99999999999", "received_at__year='99999999999' is not a year number."),
        ("received_at__year=9999", "received_at__year=9999: the list shows the years 1970 to 9998."),
        ("received_at__year=2024&received_at__month=99999999999999", "received_at__month='99999999999999'"),
        ("received_at__year=2024&received_at__month=2&received_at__day=30", "2024-2-30 is not a date"),
        ("received_at__year=%00", "received_at__year='\\x00' is not a year number."),
    ],
)
def test_a_date_hierarchy_value_it_cannot_show_is_explained(root, messages_of, query, reason):
    assert reason in refused_with_message(root, f"{EXTERNAL_LIST}?{query}", EXTERNAL_LIST, messages_of)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"start": "9999-12-31"}, "start", "The start date (9999-12-31) is outside the days the dashboard can show"),
        ({"end": "0001-01-01"}, "end", "The end date (0001-01-01) is outside the days the dashboard can show"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "start", "1970-01-01 to "),
    ],
)
def test_a_dashboard_date_it_cannot_show_is_a_form_error(root, query, field, message):
    response = root.get(DASHBOARD, query)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    today = timezone.now().astimezone(UTC).date()
    assert response.context["dashboard"].end == today  # the default range is shown instead


def test_the_audit_export_with_a_bad_filter_value_exports_nothing_and_says_why(root, messages_of):
    response = root.get(reverse("admin:profiles_imrequest_export_csv"), {"error_code": "--1"}, follow=True)
    texts = " ".join(messages_of(response))
    assert "error_code='--1'" in texts and "nothing was exported" in texts
    assert not AuditExport.objects.exists()


def test_the_profile_export_with_a_nul_filter_value_exports_nothing_and_says_why(root, messages_of):
    response = root.get(reverse("admin:profiles_profile_export_csv"), {"gender__exact": "\x00"}, follow=True)
    assert response.redirect_chain[-1][0].startswith(PROFILE_LIST)
    texts = " ".join(messages_of(response))
    assert "control character (U+0000)" in texts and "nothing was exported" in texts


@pytest.mark.parametrize("user_id", ["\x00", "ü_user", "x" * 40])
def test_a_timeline_of_something_that_is_not_a_user_id_is_explained(root, messages_of, user_id):
    response = root.get(reverse("admin:profiles_imrequest_timeline"), {"user_id": user_id}, follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == AUDIT_LIST
    assert "No timeline for" in " ".join(messages_of(response))


def test_a_revert_parameter_that_is_not_a_number_is_explained_on_the_form(root, messages_of, change_url, db):
    from profiles.models import Profile

    profile = Profile.objects.create(user_id="u_1")
    response = root.get(change_url(profile), {"revert": "²"})
    assert response.status_code == 200
    assert "Cannot revert: That audit row does not exist" in " ".join(messages_of(response))
