"""Custom tag definitions mirror the Tencent console: letters-only keywords, at most 20, immutable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles.im import tags as catalogue
from profiles.models import CustomTagDefinition

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:profiles_customtagdefinition_add")


@pytest.fixture
def root_client(client, cast):
    client.force_login(cast.root)
    return client


def add(client, keyword: str, **extra):
    data = {"keyword": keyword, "value_type": "string", "label": "", "admin_read": "on", "admin_write": "on",
            "description": "", **extra}
    return client.post(ADD_URL, data)


def test_it_adds_a_definition_with_its_wire_name(root_client):
    response = add(root_client, "Mood")
    assert response.status_code == 302
    assert CustomTagDefinition.objects.get().wire_name == "Tag_Profile_Custom_Mood"


@pytest.mark.parametrize("keyword", ["Mood1", "TooLongKw", "Mö", "my_tag"])
def test_it_refuses_a_bad_keyword(root_client, keyword):
    response = add(root_client, keyword)
    assert response.status_code == 200 and response.context["adminform"].form.errors["keyword"]
    assert not CustomTagDefinition.objects.exists()


def test_it_refuses_the_21st_definition(root_client):
    for index in range(catalogue.CUSTOM_TAG_LIMIT):
        CustomTagDefinition.objects.create(keyword="Tag" + "abcdefghijklmnopqrstu"[index])
    response = add(root_client, "Extra")
    assert response.status_code == 200
    assert "at most 20" in str(response.context["adminform"].form.non_field_errors())
    assert CustomTagDefinition.objects.count() == catalogue.CUSTOM_TAG_LIMIT


def test_keyword_and_type_are_read_only_after_creation(root_client):
    definition = CustomTagDefinition.objects.create(keyword="Mood")
    url = reverse("admin:profiles_customtagdefinition_change", args=[definition.pk])
    page = root_client.get(url).content.decode()
    assert 'name="keyword"' not in page and 'name="value_type"' not in page
    root_client.post(url, {"keyword": "Other", "value_type": "bytes", "label": "Mood", "admin_read": "on",
                           "description": ""})
    definition.refresh_from_db()
    assert (definition.keyword, definition.value_type, definition.label) == ("Mood", "string", "Mood")
    assert definition.admin_write is False
