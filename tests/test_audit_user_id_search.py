"""The audit list's search: the exact UserID or its beginning, case-sensitive as UserIDs are
(docs/tencent-im.md §1), read from the (user_id, created_at) index on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from profiles.models import ImRequest
from profiles.selectors import rows_for_user_id_prefix

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:profiles_imrequest_changelist")
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# Neighbours a careless search would mix up: another case (under ICU's en-US collation "U_1x" sorts
# between "u_1" and "u_2"), LIKE's wildcards "_" and "%", punctuation.
USER_IDS = [
    "u_1", "u_10", "u_2", "U_1x", "uX1", "a%b", "axb", "user-1", "user.x", "v_1", "shop-customer-000000000000000001",
]


@pytest.fixture
def rows():
    return ImRequest.objects.bulk_create(
        ImRequest(created_at=AT + timedelta(seconds=n), source="admin", command="profile/portrait_get", random=n,
                  user_id=user_id, request_body={})
        for n, user_id in enumerate(USER_IDS)
    )


def found(client, search: str) -> list[str]:
    response = client.get(LIST_URL, {"q": search})
    assert response.status_code == 200
    return sorted(row.user_id for row in response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("u_1", ["u_1", "u_10"]),
        ("u_10", ["u_10"]),
        ("U_1", ["U_1x"]),
        ("u_", ["u_1", "u_10", "u_2"]),  # "_" is not a wildcard, and "U_1x" is another case
        ("a%", ["a%b"]),  # nor is "%"
        ("user-", ["user-1"]),
        ("user", ["user-1", "user.x"]),
        ("shop-customer-000000000000000001", ["shop-customer-000000000000000001"]),
        ("  u_2 ", ["u_2"]),
        ("w", []),
    ],
)
def test_the_search_finds_the_exact_user_id_or_those_that_begin_with_it(client, cast, rows, search, expected):
    client.force_login(cast.auditor)
    assert found(client, search) == expected


def test_the_search_says_why_a_search_that_is_no_user_id_finds_nothing(client, cast, rows, messages_of):
    client.force_login(cast.auditor)
    response = client.get(LIST_URL, {"q": "x" * 33})
    assert response.status_code == 200 and not response.context["cl"].result_list
    assert messages_of(response) == ["Nothing matches that search: UserID is 33 bytes; Tencent allows at most 32."]


def test_the_search_box_says_what_it_finds(client, cast):
    client.force_login(cast.auditor)
    assert "Exact UserID or its beginning (case-sensitive)." in client.get(LIST_URL).content.decode()


def test_an_editor_searches_only_their_own_requests(client, cast, rows):
    mine = ImRequest.objects.create(source="admin", command="profile/portrait_get", random=99, user_id="u_1",
                                    request_body={}, actor=cast.editor)
    client.force_login(cast.editor)
    assert [row.pk for row in client.get(LIST_URL, {"q": "u_"}).context["cl"].result_list] == [mine.pk]


def test_the_prefix_search_reads_the_user_id_index(rows):
    query = rows_for_user_id_prefix(ImRequest.objects.order_by(), "u_1").values("pk")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A handful of rows: make the planner show whether it can use the index at all.
            cursor.execute("SET enable_seqscan = off")
        try:
            plan = query.explain()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET enable_seqscan")
        # The prefix is the index's condition, not a filter over every index entry (as a default
        # operator class gives under a language collation).
        assert re.search(r"Index Cond: .*user_id.*u_1", plan) and "imrequest_user_prefix_time" in plan, plan
    else:
        plan = query.explain()
        assert re.search(r"SEARCH .* USING (COVERING )?INDEX imrequest_user_prefix_time \(user_id>\? AND user_id<\?\)",
                         plan), plan
