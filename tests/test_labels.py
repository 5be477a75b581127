"""Plain words for tags and values (profiles.labels)."""

import pytest

from profiles import labels
from profiles.models import CustomTagDefinition


def test_standard_tags_and_enum_values_are_named_by_their_labels():
    change = labels.describe_change("Tag_Profile_IM_Gender", "Gender_Type_Unknown", "Gender_Type_Female")
    assert str(change) == "Gender: Unknown → Female"
    assert change.wire == "Tag_Profile_IM_Gender"
    assert labels.tag_label("Tag_Profile_IM_Nick") == "Nickname"
    assert labels.value_label("Tag_Profile_IM_AllowType", "AllowType_Type_NeedConfirm") == "Need approval"


def test_missing_values_and_numbers_read_plainly():
    assert str(labels.describe_change("Tag_Profile_IM_Level", None, 7)) == "Level: (not set) → 7"
    assert labels.value_label("Tag_Profile_IM_Nick", "") == "(not set)"


@pytest.mark.django_db
def test_custom_tags_use_their_label_or_keyword_and_unknown_tags_stay_as_they_are():
    CustomTagDefinition.objects.create(keyword="Mood", label="Mood today")
    CustomTagDefinition.objects.create(keyword="Tier")
    texts = labels.describe_changes([
        {"tag": "Tag_Profile_Custom_Mood", "before": "calm", "after": "happy"},
        {"tag": "Tag_Profile_Custom_Tier", "before": None, "after": "gold"},
        {"tag": "Tag_Profile_SNS_Whatever", "before": 1, "after": 2},
    ])
    assert [str(t) for t in texts] == [
        "Mood today: calm → happy", "Tier: (not set) → gold", "Tag_Profile_SNS_Whatever: 1 → 2",
    ]
    assert labels.describe_tags(["Tag_Profile_IM_Nick", "Tag_Profile_Custom_Tier"]) == "Nickname, Tier"
