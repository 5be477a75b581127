"""Demo data for `make run`: a few custom tags and accounts, the same in the emulator and locally."""

from __future__ import annotations

from typing import Any

from .im import tags as catalogue

DEMO_CUSTOM_TAGS = (
    catalogue.CustomTag(keyword="Mood", label="Mood"),
    catalogue.CustomTag(keyword="Tier", label="Support tier"),
    # Configured in the "console" without admin write permission: the form shows it read-only.
    catalogue.CustomTag(keyword="Badge", label="Badge (console-managed)", admin_write=False),
)

_NICKS = ["Ada", "Bo", "Chen Wei", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hana", "Ivan", "Jun"]


def demo_accounts(count: int) -> dict[str, dict[str, Any]]:
    """``count`` demo accounts keyed by UserID, with wire-form profiles (docs/tencent-im.md §2)."""
    accounts: dict[str, dict[str, Any]] = {
        "u_8812": {
            "Tag_Profile_IM_Nick": "an offensive nickname",
            "Tag_Profile_IM_Gender": "Gender_Type_Unknown",
            "Tag_Profile_IM_AllowType": "AllowType_Type_AllowAny",
            "Tag_Profile_Custom_Mood": "grumpy",
        },
        "u_77": {
            "Tag_Profile_IM_Nick": "Blocked friend requests",
            "Tag_Profile_IM_AllowType": "AllowType_Type_DenyAny",
            "Tag_Profile_IM_AdminForbidType": "AdminForbid_Type_SendOut",
        },
    }
    for index in range(max(0, count - len(accounts))):
        nick = _NICKS[index % len(_NICKS)]
        accounts[f"demo_{index + 1:04d}"] = {
            "Tag_Profile_IM_Nick": f"{nick} {index + 1}",
            "Tag_Profile_IM_Gender": ("Gender_Type_Female", "Gender_Type_Male", "Gender_Type_Unknown")[index % 3],
            "Tag_Profile_IM_BirthDay": 19900101 + index,
            "Tag_Profile_IM_Location": "86 10 1 0",
            "Tag_Profile_IM_AllowType": "AllowType_Type_NeedConfirm",
            "Tag_Profile_IM_Language": index % 4,
            "Tag_Profile_IM_Level": index % 10,
        }
    return accounts
