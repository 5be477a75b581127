"""The audit list stays fast on a big table: no filter reads the audit rows for its choices, and the
paginator counts only a few pages ahead, saying "more than N" when it stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from profiles.im.client import PORTRAIT_SET
from profiles.models import ImRequest
from profiles.paginators import CappedCountPaginator

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:profiles_imrequest_changelist")
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_rows(count: int, **fields) -> list[ImRequest]:
    return ImRequest.objects.bulk_create(
        ImRequest(created_at=AT + timedelta(seconds=n), source="admin", command=PORTRAIT_SET, random=n,
                  user_id=f"u_{n}", request_body={}, **fields)
        for n in range(count)
    )


def filter_choices(response, title: str) -> list[str]:
    spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == title)
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


def test_no_query_of_the_list_reads_every_row(client, cast):
    make_rows(30, error_code=40005, action_status="FAIL")
    client.force_login(cast.root)
    for query in ({}, {"error_code": "40005"}, {"q": "u_3"}, {"actor__id__exact": cast.editor.pk}):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST_URL, query).status_code == 200
        audit_queries = [q["sql"].upper() for q in queries.captured_queries if "PROFILES_IMREQUEST" in q["sql"].upper()]
        assert not any("DISTINCT" in sql or "MIN(" in sql for sql in audit_queries), audit_queries
        assert all("LIMIT" in sql for sql in audit_queries if "COUNT(" in sql), audit_queries


def test_the_error_code_filter_offers_families_not_the_catalogue_before_any_row_exists(client, cast):
    client.force_login(cast.auditor)
    choices = filter_choices(client.get(LIST_URL), "ErrorCode")
    assert choices == [
        "All", "0 — OK (accepted)", "40000–49999: the profile and account requests",
        "60000–69999: the request, the app or the rate limit", "70000–79999: UserSig, accounts and quotas",
        "No code (transport error or no answer)",
    ]


def test_a_code_outside_the_catalogue_typed_into_the_url_still_filters_and_is_shown(client, cast):
    [unknown] = make_rows(1, error_code=99999)
    make_rows(2, error_code=40005)
    client.force_login(cast.auditor)
    response = client.get(LIST_URL, {"error_code": "99999"})
    assert [row.pk for row in response.context["cl"].result_list] == [unknown.pk]
    assert "99999 — An ErrorCode that is not in Tencent's documented catalogue; treated as final." in filter_choices(
        response, "ErrorCode"
    )


def test_an_error_code_that_is_not_a_number_is_an_invalid_filter(client, cast):
    client.force_login(cast.auditor)
    response = client.get(LIST_URL, {"error_code": "abc"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_the_action_status_and_command_filters_come_from_the_spec_not_the_rows(client, cast):
    client.force_login(cast.auditor)
    response = client.get(LIST_URL)
    assert filter_choices(response, "ActionStatus") == ["All", "OK", "FAIL", "None (no answer)"]
    assert "Account import" in filter_choices(response, "request")


def test_the_actor_filter_offers_the_staff_and_an_editor_only_themselves(client, cast):
    get_user_model().objects.create_user("customer", password="x")  # not staff: never an actor
    client.force_login(cast.auditor)
    assert filter_choices(client.get(LIST_URL), "actor") == ["All", "auditor", "editor", "outsider", "root", "-"]
    client.force_login(cast.editor)
    assert filter_choices(client.get(LIST_URL), "actor") == ["All", "editor", "-"]


def test_a_long_list_says_more_than_it_counted_and_still_pages_to_its_end(client, cast):
    rows = make_rows(1_250)
    client.force_login(cast.auditor)
    first = client.get(LIST_URL)
    page = first.content.decode()
    assert "More than 1,000 Tencent requests (audit)" in page
    assert 'href="?p=2"' in page and 'href="?p=4"' in page and "…" in page
    assert 'href="?p=11"' not in page  # no "last page" that is not the last
    last = client.get(LIST_URL, {"p": "13"})
    assert [row.pk for row in last.context["cl"].result_list] == [row.pk for row in rows[:50]][::-1]
    assert "1250 Tencent requests (audit)" in last.content.decode()  # near the end the count is exact
    assert "More than" not in last.content.decode()
    assert client.get(LIST_URL, {"p": "14"})["Location"].endswith("?e=1")


def test_a_search_with_many_matches_says_more_than_it_counted(client, cast):
    make_rows(1_050, error_code=40003)
    client.force_login(cast.auditor)
    page = client.get(LIST_URL, {"error_code": "40003"}).content.decode()
    assert "More than 1,000 results" in page


def test_the_paginator_counts_exactly_when_the_rows_end_before_its_limit():
    make_rows(30)
    paginator = CappedCountPaginator(ImRequest.objects.order_by("-created_at", "-id"), 10, look_ahead=1)
    assert (paginator.count_limit, paginator.count, paginator.count_is_capped) == (20, 21, True)
    assert list(paginator.get_elided_page_range(1)) == [1, 2, 3, paginator.ELLIPSIS]
    exact = CappedCountPaginator(ImRequest.objects.order_by("-created_at", "-id"), 10, current_page=2, look_ahead=1)
    assert (exact.count, exact.count_is_capped, exact.num_pages) == (30, False, 3)
    assert list(exact.get_elided_page_range(2)) == [1, 2, 3]


def test_a_page_sorts_the_ids_of_the_rows_not_the_rows_with_their_bodies(client, cast):
    rows = make_rows(250, error_code=40005, action_status="FAIL")
    client.force_login(cast.auditor)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST_URL, {"error_code": "4xxxx", "p": "2"})
    assert [row.pk for row in response.context["cl"].result_list] == [row.pk for row in rows[50:150]][::-1]
    audit = [q["sql"].upper() for q in queries.captured_queries if "PROFILES_IMREQUEST" in q["sql"].upper()]
    paged = [sql for sql in audit if "LIMIT" in sql and "COUNT(" not in sql]
    assert paged and not any("REQUEST_BODY" in sql for sql in paged), paged
    # Counting (up to the cap) needs no order, so no sort either.
    assert not any("ORDER BY" in sql for sql in audit if "COUNT(" in sql), audit
