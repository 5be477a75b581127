"""Plain words everywhere: the messages after a save, a refresh or a revert, the conflict note, the
timeline, the revert banner, external changes and the profile list name tags and values by their labels
("Gender: Unknown → Female"), never by Tencent's wire names; the wire name stays as small print."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from profiles import services
from profiles.models import ExternalChange, ImRequest

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"


def shown_text(html: str) -> str:
    """What a reader sees of some HTML: the markup (and so every title and value attribute) removed;
    inline spans join their neighbours, other elements are apart."""
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"</?span[^>]*>", "", html)).split())


def element(html: str, element_id: str) -> str:
    """The HTML of the element with ``element_id`` (a table or list), up to its closing tag."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}".*?</\1>', html, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


@pytest.fixture
def gendered(remote_user):
    return remote_user("u_1", **{GENDER: "Gender_Type_Unknown"})


def test_the_message_after_a_save_names_the_tags_by_label(
    editor_client, gendered, define_custom_tag, change_url, form_data, messages_of,
):
    define_custom_tag("Mood", label="Mood today")
    data = form_data(editor_client, gendered, nick="New nick", gender="Gender_Type_Female", custom_Mood="calm")
    texts = messages_of(editor_client.post(change_url(gendered), data, follow=True))
    assert "Tencent accepted the change to u_1: Nickname, Gender, Mood today." in texts
    assert not any("Tag_Profile" in text for text in texts)


def test_a_refresh_says_what_changed_in_tencent_in_plain_words(editor_client, emulator, gendered, messages_of):
    emulator.add_account("u_1", {GENDER: "Gender_Type_Female", NICK: "renamed"})
    refresh = reverse("admin:profiles_profile_refresh", args=[gendered.pk])
    texts = messages_of(editor_client.post(refresh, follow=True))
    assert texts == [
        "Refreshed u_1 from Tencent; changed there since the last read: Nickname: old nick → renamed; "
        "Gender: Unknown → Female."
    ]
    texts = messages_of(editor_client.post(refresh, follow=True))
    assert texts == ["Refreshed u_1 from Tencent; nothing had changed there."]


def test_a_refused_change_of_several_tags_names_the_tag_by_label(
    editor_client, gendered, change_url, form_data, messages_of,
):
    # 17 bytes: within the catalogue's 500-byte limit, over the emulator's 16-byte edition limit (40601).
    data = form_data(editor_client, gendered, location="86 10 1 0 extra!!", gender="Gender_Type_Male")
    form = editor_client.post(change_url(gendered), data).context["adminform"].form
    [error] = form.errors["location"]
    assert error.startswith("Tencent refused the change to Location — ErrorCode 40601")


def test_a_conflict_is_reported_and_noted_in_plain_words(cast, emulator, gendered):
    started = {GENDER: "Gender_Type_Unknown"}
    emulator.set_as_user("u_1", {GENDER: "Gender_Type_Female"})
    outcome = services.profile_push(profile=gendered, values={GENDER: "Gender_Type_Male"}, actor=cast.editor,
                                    source="admin", started_from=started)
    assert not outcome.ok and outcome.message.startswith(
        "Gender changed in Tencent since you opened u_1; nothing was sent."
    )
    read = ImRequest.objects.get(command="profile/portrait_get", purpose="conflict check before saving")
    assert read.note == "Conflict, nothing sent — Gender: started from Unknown, Tencent has Female, wanted Male"


def test_the_timeline_shows_labels_and_keeps_the_wire_names_as_small_print(
    client, cast, emulator, gendered,
):
    services.profile_push(profile=gendered, values={GENDER: "Gender_Type_Female", NICK: "新名字"},
                          actor=cast.editor, source="admin")
    services.external_change_record(
        user_id="u_1", items=[{"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_DenyAny"}],
        operator_account="u_1", platform="iOS", client_ip="", event_time_ms=None, body={},
    )
    client.force_login(cast.auditor)
    page = client.get(reverse("admin:profiles_profile_tencent_history", args=[gendered.pk])).content.decode()
    history = element(page, "tencent-history")
    text = shown_text(history)
    assert "Gender: Unknown → Female" in text and "Nickname: old nick → 新名字" in text
    assert "Friend requests: (not set) → Refuse all" in text
    assert "Profile change" in text
    assert "Tag_Profile" not in text and "_Type_" not in text and "portrait_set" not in text
    assert f'title="{GENDER}"' in history and 'title="profile/portrait_set"' in history


def test_the_revert_banner_says_what_goes_back_in_plain_words(client, cast, gendered, change_url):
    edited = services.profile_push(profile=gendered, values={GENDER: "Gender_Type_Female"},
                                   actor=cast.editor, source="admin").audit
    client.force_login(cast.editor)
    page = client.get(f"{change_url(gendered)}?revert={edited.pk}").content.decode()
    changes = element(page, "revert-changes")
    assert shown_text(changes) == "Gender: Female → Unknown"
    assert f'title="{GENDER}"' in changes


def test_a_revert_refusal_names_the_request_in_plain_words(client, cast, gendered, messages_of):
    services.profile_pull(user_ids=["u_1"], actor=cast.editor, source="admin")
    read = ImRequest.objects.get(command="profile/portrait_get")
    client.force_login(cast.editor)
    response = client.get(reverse("admin:profiles_imrequest_revert", args=[read.pk]), follow=True)
    assert messages_of(response) == [f"Only a profile change can be reverted; request #{read.pk} is a profile read."]


def test_external_changes_are_listed_and_shown_by_label_with_the_wire_name_as_small_print(client, cast, gendered):
    services.external_change_record(
        user_id="u_1", items=[{"Tag": GENDER, "Value": "Gender_Type_Female"}, {"Tag": NICK, "Value": "from iOS"}],
        operator_account="u_1", platform="iOS", client_ip="", event_time_ms=None, body={},
    )
    change = ExternalChange.objects.get()
    client.force_login(cast.auditor)
    listing = client.get(reverse("admin:profiles_externalchange_changelist")).content.decode()
    assert "Gender, Nickname" in listing and "IM_Gender" not in shown_text(listing)
    page = client.get(reverse("admin:profiles_externalchange_change", args=[change.pk])).content.decode()
    table = page[page.index('<table class="plain-changes">'):]
    table = table[:table.index("</table>")]
    # Labels first; the wire names (of the tag and of an enum value) beside them as small print.
    assert shown_text(re.sub(r"</?span[^>]*>", " ", table)).startswith(
        "Tag Before After Gender Tag_Profile_IM_Gender Unknown Gender_Type_Unknown Female Gender_Type_Female"
    )
    assert '<span class="wire">Tag_Profile_IM_Gender</span>' in table
    assert "profiles/improfile.css" in page  # where .wire is styled


def test_the_profile_list_and_form_show_the_labels_in_chinese_to_a_chinese_browser(editor_client, remote_user,
                                                                                   change_url):
    profile = remote_user("u_1", **{GENDER: "Gender_Type_Female"})
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
    listing = editor_client.get(reverse("admin:profiles_profile_changelist"), **chinese).content.decode()
    form_page = editor_client.get(change_url(profile), **chinese).content.decode()
    row = listing[listing.index(">u_1<"):]
    row = row[:row.index("</tr>")]
    assert '<td class="field-gender">女</td>' in row
    assert "昵称" in form_page and '<option value="Gender_Type_Female" selected>女</option>' in form_page


def test_a_bad_enum_value_is_explained_with_labels_and_tencents_values(cast, gendered):
    with pytest.raises(services.TagValidationError) as caught:
        services.profile_push(profile=gendered, values={GENDER: "Robot"}, actor=cast.editor, source="admin")
    assert caught.value.errors[GENDER] == (
        "Gender: 'Robot' is not one of Unknown, Female, Male (Tencent's values: Gender_Type_Unknown, "
        "Gender_Type_Female, Gender_Type_Male). (Tencent would answer 40605)."
    )
    with translation.override("zh-hans"), pytest.raises(services.TagValidationError) as caught:
        services.profile_push(profile=gendered, values={GENDER: "Robot"}, actor=cast.editor, source="admin")
    # The sentence and the labels in it are in the reader's language; Tencent's values stay as they are.
    assert caught.value.errors[GENDER] == (
        "性别：'Robot' 不是 未知, 女, 男 之一（腾讯云 IM 的取值：Gender_Type_Unknown, Gender_Type_Female, "
        "Gender_Type_Male）。（腾讯云 IM 会返回 40605）"
    )
