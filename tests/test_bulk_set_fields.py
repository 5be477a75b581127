"""The *Set fields…* action explains itself: a change form with leave alone / set to / clear per tag,
errors on their field, Cancel back to the list as it was, and a preview of only the real changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles.im.client import PORTRAIT_SET
from profiles.models import BulkJob, BulkJobItem, Profile
from profiles.selectors.bulk import bulk_preview, same_value
from profiles.services import jobpush

from .conftest import audited_db

pytestmark = audited_db

LIST_URL = reverse("admin:profiles_profile_changelist")
GENDER = "Tag_Profile_IM_Gender"
NICK = "Tag_Profile_IM_Nick"
SIGNATURE = "Tag_Profile_IM_SelfSignature"


def post_action(client, profiles, url: str = LIST_URL, **data):
    return client.post(url, {"action": "set_fields", "_selected_action": [p.pk for p in profiles], **data})


@pytest.fixture
def genders(remote_user):
    """Three users: one already Female, one Male, one with no gender known."""
    return [
        remote_user("u_f", **{GENDER: "Gender_Type_Female"}),
        remote_user("u_m", **{GENDER: "Gender_Type_Male", SIGNATURE: "hello"}),
        remote_user("u_x"),
    ]


def test_the_form_offers_leave_set_or_clear_per_tag_with_labels_and_wire_names_as_small_print(editor_client, genders):
    response = post_action(editor_client, genders)
    page = response.content.decode()
    assert response.status_code == 200 and "Standard profile" in page and 'class="form-row field-nick' in page
    form = response.context["form"]
    # Text can be cleared; an enum or a number cannot (docs/tencent-im.md §2): no "Clear" is offered.
    assert [value for value, _ in form.fields["do_nick"].choices] == ["leave", "set", "clear"]
    assert [value for value, _ in form.fields["do_gender"].choices] == ["leave", "set"]
    assert [value for value, _ in form.fields["do_level"].choices] == ["leave", "set"]
    assert form["do_nick"].value() == "leave"
    assert '<label for="id_nick">Nickname:</label>' in page and '<span class="wire">Tag_Profile_IM_Nick</span>' in page
    assert "It cannot be cleared: Tencent has no empty value for it" in page
    assert '<option value="Gender_Type_Female">Female</option>' in page
    assert 'class="submit-row"' in page and f'<a href="{LIST_URL}" class="closelink">Cancel</a>' in page


def test_cancel_and_every_step_keep_the_change_lists_filters_and_select_across(editor_client, genders, emulator):
    filtered = f"{LIST_URL}?gender__exact=Gender_Type_Male"
    # "Select all" across the filtered list: the page's checkbox (u_m) plus select_across.
    data = {"select_across": "1", "do_nick": "set", "nick": "renamed"}
    form_page = post_action(editor_client, genders[1:2], url=filtered, **{k: v for k, v in data.items()
                                                                          if k == "select_across"})
    page = form_page.content.decode()
    assert 'action="/admin/profiles/profile/?gender__exact=Gender_Type_Male"' in page
    assert 'href="/admin/profiles/profile/?gender__exact=Gender_Type_Male" class="closelink">Cancel' in page
    assert '<input type="hidden" name="select_across" value="1">' in page

    preview = post_action(editor_client, genders[1:2], url=filtered, step="preview", **data)
    assert preview.context["preview"].total == 1
    assert 'name="select_across" value="1"' in preview.content.decode()
    post_action(editor_client, genders[1:2], url=filtered, step="confirm", **data)
    assert list(BulkJob.objects.get().items.values_list("user_id", flat=True)) == ["u_m"]


def test_errors_are_shown_on_their_field_and_the_input_is_kept(editor_client, genders, emulator):
    response = post_action(
        editor_client, genders, step="preview",
        do_nick="leave", nick="typed but left alone", do_gender="set", gender="", do_level="clear",
        do_self_signature="clear", self_signature="both",
    )
    form = response.context["form"]
    page = response.content.decode()
    assert "Leave alone" in form.errors["nick"][0] and "Set to" in form.errors["nick"][0]
    assert form.errors["gender"] == ["Give the value to set, or choose “Leave alone”."]
    assert "do_level" in form.errors  # no "Clear" for a number
    assert "You chose “Clear” but gave a value" in form.errors["self_signature"][0]
    assert 'class="errornote"' in page and "Please correct the errors below." in page
    assert 'class="form-row field-nick errors"' in page and 'value="typed but left alone"' in page
    assert not BulkJob.objects.exists() and emulator.requests() == []


def test_nothing_chosen_is_a_form_error(editor_client, genders):
    response = post_action(editor_client, genders, step="preview")
    assert response.context["form"].non_field_errors() == ["Choose at least one tag to set or clear."]


def test_the_preview_shows_only_real_changes_in_plain_words_and_counts_the_rest(editor_client, genders, emulator):
    chosen = {"do_gender": "set", "gender": "Gender_Type_Female", "do_nick": "set", "nick": "old nick"}
    response = post_action(editor_client, genders, step="preview", **chosen)
    preview = response.context["preview"]
    assert (preview.total, preview.unchanged, preview.changing) == (3, 1, 2)
    assert {row.user_id: [str(change) for change in row.changes] for row in preview.sample} == {
        "u_m": ["Gender: Male → Female"], "u_x": ["Gender: (not set) → Female"],
    }
    page = response.content.decode()
    assert "2 of the 3 selected profiles will change" in page
    assert "1 selected profile already has these values in its local copy" in page
    assert "Nickname: old nick →" not in page and "<td>u_f</td>" not in page
    assert "Gender: set to Female" in page and "Gender_Type_Female</span>" not in page.split("set-fields-sample")[1]


def test_the_job_sends_nothing_to_a_profile_that_already_has_the_values(editor_client, genders, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    chosen = {"do_gender": "set", "gender": "Gender_Type_Female"}
    post_action(editor_client, genders, step="confirm", **chosen)
    job = BulkJob.objects.get()
    assert job.total == 3  # every selected profile: the job asks Tencent, whose values may differ
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    assert sorted(r.body["From_Account"] for r in emulator.requests(PORTRAIT_SET)) == ["u_m", "u_x"]
    unchanged = BulkJobItem.objects.get(job=job, user_id="u_f")
    assert unchanged.state == BulkJobItem.State.SUCCEEDED and unchanged.error_code is None
    page = editor_client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()
    assert "1 item needed no change: Tencent already had its values" in page


def test_clear_empties_a_text_tag_in_tencent(editor_client, genders, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    chosen = {"do_self_signature": "clear"}
    preview = post_action(editor_client, genders, step="preview", **chosen).context["preview"]
    assert (preview.changing, [str(c) for c in preview.sample[0].changes]) == (1, ["Signature: hello → (not set)"])
    post_action(editor_client, genders, step="confirm", **chosen)
    job = BulkJob.objects.get()
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    [sent] = emulator.requests(PORTRAIT_SET)
    assert sent.body == {"From_Account": "u_m", "ProfileItem": [{"Tag": SIGNATURE, "Value": ""}]}
    assert emulator.profile("u_m")[SIGNATURE] == "" and Profile.objects.get(user_id="u_m").self_signature == ""


def test_change_the_values_goes_back_to_the_filled_form(editor_client, genders):
    response = post_action(editor_client, genders, step="confirm", _edit="1", do_nick="set", nick="again")
    assert "preview" not in response.context and not BulkJob.objects.exists()
    assert 'value="again"' in response.content.decode()


def test_the_databases_count_of_unchanged_profiles_agrees_with_the_sample(define_custom_tag, emulator):
    define_custom_tag("Mood", label="Mood")
    mood = "Tag_Profile_Custom_Mood"
    for user_id, custom in [("u_absent", {}), ("u_empty", {mood: ""}), ("u_happy", {mood: "happy"})]:
        Profile.objects.create(user_id=user_id, custom_values=custom, nick="" if user_id == "u_empty" else None)
    every = Profile.objects.all()
    for values, unchanged in [
        ({mood: ""}, {"u_absent", "u_empty"}),
        ({mood: "happy"}, {"u_happy"}),
        ({mood: "", NICK: ""}, {"u_absent", "u_empty"}),
        ({NICK: "x"}, set()),
    ]:
        preview = bulk_preview(every, values, sample_size=10)
        assert preview.unchanged == len(unchanged), values
        assert {row.user_id for row in preview.sample} == {p.user_id for p in every} - unchanged, values
        for profile in every:
            assert all(same_value(profile.tag_value(tag), value) for tag, value in values.items()) == (
                profile.user_id in unchanged
            )
    labelled = bulk_preview(every, {mood: "calm"}).sample[0].changes[0]
    assert (labelled.label, labelled.wire) == ("Mood", mood)
