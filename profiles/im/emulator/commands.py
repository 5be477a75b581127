"""The v4 REST commands as Tencent answers them: the query and UserSig checks (docs/tencent-im.md §1, §7), tag
validation, and the handlers of portrait_get/portrait_set/account_check/account_import/multiaccount_import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import tags as catalogue
from ..client import ACCOUNT_CHECK, ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT, PORTRAIT_GET, PORTRAIT_SET
from ..usersig import UserSigError, verify_usersig
from .state import EmulatorState


def _answer(error_code: int = 0, error_info: str = "", **extra: Any) -> dict[str, Any]:
    body = {
        "ActionStatus": "OK" if error_code == 0 else "FAIL",
        "ErrorCode": error_code,
        "ErrorInfo": error_info,
        "ErrorDisplay": "" if error_code == 0 else error_info,
    }
    body.update(extra)
    return body


def check_query(state: EmulatorState, query: dict[str, str]) -> dict[str, Any] | None:
    """docs/tencent-im.md §1 and §7: the five query parameters and the UserSig. None when all is well."""
    sdkappid = query.get("sdkappid", "")
    if not sdkappid:
        return _answer(60012, "sdkappid is missing")
    # isascii: str.isdigit() is also true for "²", which int() refuses, and for other scripts' digits.
    if not (sdkappid.isascii() and sdkappid.isdigit()) or int(sdkappid) != state.sdkappid:
        return _answer(70020, f"sdkappid {sdkappid} not found")
    identifier = query.get("identifier", "")
    if not identifier:
        return _answer(60004, "identifier is missing")
    if query.get("contenttype") != "json":
        return _answer(60002, "contenttype must be json")
    random = query.get("random", "")
    if not (random.isascii() and random.isdigit()) or int(random) > 0xFFFFFFFF:
        return _answer(60002, "random must be an unsigned 32-bit integer")
    usersig = query.get("usersig", "")
    try:
        verify_usersig(
            usersig, sdkappid=state.sdkappid, secret_key=state.secret_key,
            identifier=identifier,
        )
    except UserSigError as exc:
        return _answer(exc.error_code, str(exc))
    if identifier not in state.admin_identifiers:
        return _answer(60010, f"identifier {identifier} is not an app admin")
    return None


def _check_tag_value(state: EmulatorState, tag_name: Any, value: Any, *, write: bool) -> dict[str, Any] | None:
    if not isinstance(tag_name, str) or not catalogue.TAG_NAME_RE.fullmatch(tag_name):
        return _answer(40001, f"Err_Profile_Comm_Decode_Fail: bad tag name {tag_name!r}")
    standard = catalogue.STANDARD_BY_WIRE.get(tag_name)
    if standard is not None:
        if not write:
            return None
        try:
            standard.validate(value)
        except catalogue.TagValueError as exc:
            return _answer(exc.error_code, f"{tag_name}: {exc.message}")
        if tag_name == "Tag_Profile_IM_Location":
            size = len(value.encode("utf-8"))
            if size > state.location_max_bytes:
                return _answer(40601, f"{tag_name}: {size} bytes, at most {state.location_max_bytes}")
        return None
    custom = state.custom_tags.get(tag_name)
    if custom is None:
        return _answer(40009, f"{tag_name}: tag does not exist")
    if write and not custom.admin_write:
        return _answer(40008, f"{tag_name}: no admin write permission")
    if not write and not custom.admin_read:
        return _answer(40007, f"{tag_name}: no admin read permission")
    if write:
        try:
            custom.validate(value)
        except catalogue.TagValueError as exc:
            return _answer(exc.error_code, f"{tag_name}: {exc.message}")
    return None


def _portrait_set(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    # docs/tencent-im.md §4
    account = body.get("From_Account")
    items = body.get("ProfileItem")
    if account is None or items is None:
        return _answer(40001, "Err_Profile_Comm_Decode_Fail: From_Account and ProfileItem are required")
    if not isinstance(account, str):
        return _answer(60015, "From_Account is not a string")
    if not isinstance(items, list) or not items:
        return _answer(40001, "Err_Profile_Comm_Decode_Fail: ProfileItem must be a non-empty list")
    if account not in state.accounts:
        return _answer(40003, f"From_Account {account} does not exist")
    updates: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or "Tag" not in item or "Value" not in item:
            return _answer(40001, "Err_Profile_Comm_Decode_Fail: each item needs Tag and Value")
        problem = _check_tag_value(state, item["Tag"], item["Value"], write=True)
        if problem is not None:
            return problem  # all or nothing: nothing applied (docs/tencent-im.md §4)
        updates[item["Tag"]] = item["Value"]
    state.accounts[account].update(updates)
    return _answer()


def _portrait_get(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    # docs/tencent-im.md §5
    accounts = body.get("To_Account")
    tag_list = body.get("TagList")
    if accounts is None:
        return _answer(40002, "To_Account is missing")
    if not isinstance(accounts, list) or not accounts or len(accounts) > 100:
        return _answer(40001, "To_Account must list 1 to 100 accounts")
    if not isinstance(tag_list, list) or not tag_list:
        return _answer(40001, "TagList is required")
    for tag_name in tag_list:
        problem = _check_tag_value(state, tag_name, None, write=False)
        if problem is not None:
            return problem
    profiles, failed = [], []
    for account in accounts:
        if not isinstance(account, str):
            return _answer(60015, "a To_Account entry is not a string")
        stored = state.accounts.get(account)
        if stored is None:
            failed.append(account)
            profiles.append({"To_Account": account, "ProfileItem": [], "ResultCode": 40003,
                             "ResultInfo": "account does not exist"})
            continue
        items = [{"Tag": t, "Value": stored[t]} for t in tag_list if t in stored]
        profiles.append({"To_Account": account, "ProfileItem": items, "ResultCode": 0, "ResultInfo": ""})
    extra: dict[str, Any] = {"UserProfileItem": profiles}
    if failed:
        extra["Fail_Account"] = failed
    return _answer(**extra)


def _account_check(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    items = body.get("CheckItem")
    if not isinstance(items, list) or not items or len(items) > 100:
        return _answer(40001, "CheckItem must list 1 to 100 accounts")
    results = []
    for item in items:
        user_id = item.get("UserID") if isinstance(item, dict) else None
        if not isinstance(user_id, str):
            return _answer(60015, "a UserID is not a string")
        status = "Imported" if user_id in state.accounts else "NotImported"
        results.append({"UserID": user_id, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status})
    return _answer(ResultItem=results)


def _import_one(state: EmulatorState, item: dict[str, Any]) -> bool:
    user_id = item.get("UserID")
    try:
        catalogue.validate_user_id(user_id)
    except ValueError:
        return False
    profile = state.accounts.setdefault(user_id, {})
    if item.get("Nick") is not None:
        profile["Tag_Profile_IM_Nick"] = item["Nick"]
    if item.get("FaceUrl") is not None:
        profile["Tag_Profile_IM_Image"] = item["FaceUrl"]
    return True


def _account_import(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    if not _import_one(state, body):
        return _answer(70402, "UserID is missing or invalid")
    return _answer()


def _multiaccount_import(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    # docs/tencent-im.md §5: the old body {"Accounts": [ids]} and the newer {"AccountList": [{...}]}.
    if "AccountList" in body:
        entries = body["AccountList"]
    elif "Accounts" in body:
        # Only a list: iterating a string would import each of its characters as an account.
        accounts = body["Accounts"]
        entries = [{"UserID": user_id} for user_id in accounts] if isinstance(accounts, list) else None
    else:
        return _answer(40001, "Accounts or AccountList is required")
    if not isinstance(entries, list) or not entries or len(entries) > 100:
        return _answer(40001, "between 1 and 100 accounts per call")
    failed = [e.get("UserID") if isinstance(e, dict) else e for e in entries
              if not (isinstance(e, dict) and _import_one(state, e))]
    return _answer(FailAccounts=failed)


# The command each handler answers; Emulator.handle runs them under the state's lock.
HANDLERS: dict[str, Callable[[EmulatorState, dict[str, Any]], dict[str, Any]]] = {
    PORTRAIT_SET: _portrait_set,
    PORTRAIT_GET: _portrait_get,
    ACCOUNT_CHECK: _account_check,
    ACCOUNT_IMPORT: _account_import,
    MULTIACCOUNT_IMPORT: _multiaccount_import,
}
