"""The Tencent IM emulator itself: reads, accounts, errors, fault injection and its control API."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from profiles.im.client import (
    ACCOUNT_CHECK,
    ACCOUNT_IMPORT,
    MULTIACCOUNT_IMPORT,
    PORTRAIT_GET,
    PORTRAIT_SET,
    ImClient,
    ImError,
)
from profiles.im.emulator import Emulator, EmulatorServer, Fault
from profiles.im.tags import CustomTag
from profiles.im.usersig import UserSigProvider

SDKAPPID = 1400000456
SECRET_KEY = "emulator-test-secret-key"


@pytest.fixture(scope="module")
def shared_server():
    emulator = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY, admin_identifiers=["administrator"])
    running = EmulatorServer(emulator, port=0).start()
    yield running
    running.stop()


@pytest.fixture
def server(shared_server) -> EmulatorServer:
    shared_server.emulator.reset()
    return shared_server


@pytest.fixture
def emulator(server) -> Emulator:
    return server.emulator


@pytest.fixture
def client(server):
    provider = UserSigProvider(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier="administrator")
    im_client = ImClient(base_url=server.url, sdkappid=SDKAPPID, usersig=provider)
    yield im_client
    im_client.session.close()


@pytest.fixture
def post(client):
    """POST a signed request with plain requests; returns (HTTP status, JSON body) whatever the outcome."""

    def send(command: str, body: Any) -> tuple[int, dict[str, Any]]:
        answer = requests.post(client.build_url(command, 7), json=body, timeout=5)
        return answer.status_code, answer.json()

    return send


# --- portrait_get (docs/tencent-im.md §5) ----------------------------------------------------------------------


def test_portrait_get_gives_a_result_code_per_user_and_lists_unknown_users_in_fail_account(emulator, post):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "one", "Tag_Profile_IM_Level": 3})
    status, body = post(PORTRAIT_GET, {"To_Account": ["u_1", "ghost"],
                                       "TagList": ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Level"]})
    assert status == 200 and body["ErrorCode"] == 0 and body["ActionStatus"] == "OK"
    known, unknown = body["UserProfileItem"]
    assert known["To_Account"] == "u_1" and known["ResultCode"] == 0
    assert known["ProfileItem"] == [{"Tag": "Tag_Profile_IM_Nick", "Value": "one"},
                                    {"Tag": "Tag_Profile_IM_Level", "Value": 3}]
    assert unknown["To_Account"] == "ghost" and unknown["ResultCode"] != 0 and unknown["ProfileItem"] == []
    assert body["Fail_Account"] == ["ghost"]


def test_portrait_get_has_no_fail_account_when_every_user_exists(emulator, post):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "one"})
    _, body = post(PORTRAIT_GET, {"To_Account": ["u_1"], "TagList": ["Tag_Profile_IM_Nick"]})
    assert body["ErrorCode"] == 0 and "Fail_Account" not in body


def test_portrait_get_leaves_out_a_custom_tag_that_has_no_value(emulator, post):
    emulator.define_custom_tag(CustomTag(keyword="Mood"))
    emulator.define_custom_tag(CustomTag(keyword="Team"))
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "one", "Tag_Profile_Custom_Team": "red"})
    _, body = post(PORTRAIT_GET, {"To_Account": ["u_1"],
                                  "TagList": ["Tag_Profile_Custom_Mood", "Tag_Profile_Custom_Team"]})
    [profile] = body["UserProfileItem"]
    assert profile["ProfileItem"] == [{"Tag": "Tag_Profile_Custom_Team", "Value": "red"}]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"TagList": ["Tag_Profile_IM_Nick"]}, 40002),
        ({"To_Account": ["u_1"], "TagList": ["Tag_Profile_Custom_Nope"]}, 40009),
        ({"To_Account": ["u_1"], "TagList": ["Tag_Profile_Custom_Secret"]}, 40007),
        ({"To_Account": ["u_1"]}, 40001),
    ],
    ids=["missing-to-account", "undefined-tag", "no-admin-read", "missing-tag-list"],
)
def test_portrait_get_refuses_a_bad_request_with_the_documented_code(emulator, post, body, code):
    emulator.define_custom_tag(CustomTag(keyword="Secret", admin_read=False))
    emulator.add_account("u_1")
    status, answer = post(PORTRAIT_GET, body)
    assert status == 200 and answer["ErrorCode"] == code and answer["ActionStatus"] == "FAIL"


# --- accounts (docs/tencent-im.md §5) --------------------------------------------------------------------------


def test_account_check_reports_imported_and_not_imported(emulator, post):
    emulator.add_account("u_1")
    _, body = post(ACCOUNT_CHECK, {"CheckItem": [{"UserID": "u_1"}, {"UserID": "ghost"}]})
    assert body["ErrorCode"] == 0
    assert [(item["UserID"], item["AccountStatus"]) for item in body["ResultItem"]] == [
        ("u_1", "Imported"), ("ghost", "NotImported"),
    ]


def test_account_import_creates_the_account_with_nick_and_face_url_as_tags(emulator, post):
    _, body = post(ACCOUNT_IMPORT, {"UserID": "u_new", "Nick": "小军", "FaceUrl": "https://example.com/a.png"})
    assert body["ErrorCode"] == 0
    assert emulator.profile("u_new") == {
        "Tag_Profile_IM_Nick": "小军", "Tag_Profile_IM_Image": "https://example.com/a.png",
    }


def test_importing_an_account_twice_creates_no_duplicate(emulator, post):
    post(ACCOUNT_IMPORT, {"UserID": "u_new", "Nick": "first"})
    _, body = post(ACCOUNT_IMPORT, {"UserID": "u_new", "Nick": "second"})
    assert body["ErrorCode"] == 0
    assert list(emulator.state.accounts) == ["u_new"]
    assert emulator.profile("u_new")["Tag_Profile_IM_Nick"] == "second"


def test_importing_an_existing_account_without_nick_keeps_its_profile(emulator, post):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "kept", "Tag_Profile_IM_Level": 2})
    post(ACCOUNT_IMPORT, {"UserID": "u_1"})
    assert emulator.profile("u_1") == {"Tag_Profile_IM_Nick": "kept", "Tag_Profile_IM_Level": 2}


@pytest.mark.parametrize("user_id", ["a" * 33, "", None, "用户"], ids=["33-bytes", "empty", "none", "non-ascii"])
def test_account_import_refuses_an_invalid_user_id(emulator, post, user_id):
    _, body = post(ACCOUNT_IMPORT, {"UserID": user_id})
    assert body["ErrorCode"] != 0 and body["ActionStatus"] == "FAIL"
    assert emulator.state.accounts == {}


def test_multiaccount_import_accepts_the_old_accounts_body(emulator, post):
    _, body = post(MULTIACCOUNT_IMPORT, {"Accounts": ["u_1", "u_2", " bad"]})
    assert body["ErrorCode"] == 0 and body["FailAccounts"] == [" bad"]
    assert sorted(emulator.state.accounts) == ["u_1", "u_2"]


def test_multiaccount_import_accepts_the_new_account_list_body_and_updates_existing_accounts(emulator, post):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "old"})
    _, body = post(MULTIACCOUNT_IMPORT, {"AccountList": [
        {"UserID": "u_1", "Nick": "renamed"},
        {"UserID": "u_2", "Nick": "two", "FaceUrl": "https://example.com/2.png"},
    ]})
    assert body["ErrorCode"] == 0 and body["FailAccounts"] == []
    assert sorted(emulator.state.accounts) == ["u_1", "u_2"]
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "renamed"
    assert emulator.profile("u_2") == {"Tag_Profile_IM_Nick": "two", "Tag_Profile_IM_Image": "https://example.com/2.png"}


@pytest.mark.parametrize(
    "body",
    [{}, {"Accounts": []}, {"AccountList": []}, {"Accounts": "u_1"}, {"Accounts": [f"u_{n}" for n in range(101)]}],
    ids=["neither-key", "empty-accounts", "empty-account-list", "accounts-not-a-list", "over-100"],
)
def test_multiaccount_import_refuses_a_malformed_body_and_imports_nothing(emulator, post, body):
    status, answer = post(MULTIACCOUNT_IMPORT, body)
    assert status == 200 and answer["ErrorCode"] == 40001
    assert emulator.state.accounts == {}


# --- errors for the request itself (docs/tencent-im.md §1, §6) -------------------------------------------------


def test_an_unknown_command_is_answered_60009(post):
    status, body = post("profile/portrait_sett", {})
    assert status == 200 and body["ErrorCode"] == 60009 and body["ActionStatus"] == "FAIL"


def test_an_unknown_command_is_60009_when_handled_directly_too(emulator):
    assert emulator.handle("im_open_login_svc/nope", {})["ErrorCode"] == 60009


def test_a_get_request_is_answered_60002_with_http_200(client):
    answer = requests.get(client.build_url(PORTRAIT_GET, 7), timeout=5)
    assert answer.status_code == 200 and answer.json()["ErrorCode"] == 60002


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"From_Account": "ghost", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x"}]}, 40003),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Gender", "Value": "x"}]}, 40605),
        ({"From_Account": 5, "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x"}]}, 60015),
        ("a JSON string, not an object", 60003),
    ],
    ids=["40003", "40605", "60015", "60003"],
)
def test_the_http_status_is_200_for_every_im_error(emulator, post, payload, code):
    emulator.add_account("u_1")
    status, body = post(PORTRAIT_SET, payload)
    assert status == 200 and body["ErrorCode"] == code
    assert body["ActionStatus"] == "FAIL" and body["ErrorInfo"]


def test_a_body_that_is_not_json_is_answered_60003(client):
    answer = requests.post(client.build_url(PORTRAIT_SET, 7), data=b"{not json", timeout=5)
    assert answer.status_code == 200 and answer.json()["ErrorCode"] == 60003


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sdkappid": None}, 60012),
        ({"sdkappid": "1400999999"}, 70020),
        ({"sdkappid": "١٤٠٠٠٠٠٤٥٦"}, 70020),  # Arabic-Indic digits of the right number
        ({"sdkappid": "²"}, 70020),
        ({"identifier": None}, 60004),
        ({"contenttype": "xml"}, 60002),
        ({"random": "4294967296"}, 60002),
        ({"random": "-1"}, 60002),
        ({"random": "²"}, 60002),
        ({"usersig": None}, 70002),
        ({"usersig": "garbage"}, 70003),
    ],
    ids=[
        "no-sdkappid", "other-sdkappid", "non-ascii-sdkappid", "superscript-sdkappid", "no-identifier",
        "not-json-contenttype", "random-too-big", "random-negative", "superscript-random", "no-usersig",
        "garbage-usersig",
    ],
)
def test_a_bad_query_parameter_is_answered_with_its_code_and_never_crashes(client, change, code):
    query = {"sdkappid": str(SDKAPPID), "identifier": "administrator", "usersig": client.usersig.get(),
             "random": "7", "contenttype": "json"}
    for name, value in change.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    answer = requests.post(f"{client.base_url}/v4/{PORTRAIT_GET}", params=query, json={}, timeout=5)
    assert answer.status_code == 200 and answer.json()["ErrorCode"] == code


# --- portrait_set is all or nothing (docs/tencent-im.md §4) -----------------------------------------------------


def test_a_multi_item_portrait_set_with_one_bad_item_applies_nothing(emulator, client):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "old", "Tag_Profile_IM_Level": 1})
    with pytest.raises(ImError) as caught:
        client.call(PORTRAIT_SET, {"From_Account": "u_1", "ProfileItem": [
            {"Tag": "Tag_Profile_IM_Nick", "Value": "new"},
            {"Tag": "Tag_Profile_IM_Level", "Value": 2},
            {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Robot"},
        ]})
    assert caught.value.error_code == 40605
    assert emulator.profile("u_1") == {"Tag_Profile_IM_Nick": "old", "Tag_Profile_IM_Level": 1}


def test_a_multi_item_portrait_set_with_good_items_applies_them_all(emulator, client):
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "old"})
    client.call(PORTRAIT_SET, {"From_Account": "u_1", "ProfileItem": [
        {"Tag": "Tag_Profile_IM_Nick", "Value": "new"},
        {"Tag": "Tag_Profile_IM_Level", "Value": 2},
    ]})
    assert emulator.profile("u_1") == {"Tag_Profile_IM_Nick": "new", "Tag_Profile_IM_Level": 2}


def test_the_location_limit_is_16_bytes_by_default_and_configurable():
    def location_answer(emulator: Emulator, value: str) -> int:
        emulator.add_account("u_1")
        body = {"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Location", "Value": value}]}
        return emulator.handle(PORTRAIT_SET, body)["ErrorCode"]

    default = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY)
    assert location_answer(default, "x" * 16) == 0
    assert location_answer(default, "中" * 6) == 40601  # 6 characters, 18 bytes
    roomy = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY, location_max_bytes=500)
    assert location_answer(roomy, "中" * 6) == 0


# --- fault injection -------------------------------------------------------------------------------


def test_a_fault_applies_its_times_then_stops(emulator, post):
    emulator.add_account("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40006, times=2))
    body = {"To_Account": ["u_1"], "TagList": ["Tag_Profile_IM_Nick"]}
    codes = [post(PORTRAIT_GET, body)[1]["ErrorCode"] for _ in range(4)]
    assert codes == [40006, 40006, 0, 0]
    assert emulator.state.faults == []
    assert [record.fault for record in emulator.requests(PORTRAIT_GET)] == ["error_code", "error_code", "", ""]


def test_a_fault_for_one_command_leaves_other_commands_alone(emulator, post):
    emulator.add_account("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40006, command=PORTRAIT_SET))
    assert post(ACCOUNT_CHECK, {"CheckItem": [{"UserID": "u_1"}]})[1]["ErrorCode"] == 0
    set_body = {"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x"}]}
    assert post(PORTRAIT_SET, set_body)[1]["ErrorCode"] == 40006
    assert post(PORTRAIT_SET, set_body)[1]["ErrorCode"] == 0


def test_an_http_status_fault_answers_that_status_with_html(emulator, client):
    emulator.inject(Fault(kind="http_status", http_status=503))
    answer = requests.post(client.build_url(ACCOUNT_CHECK, 7), json={"CheckItem": [{"UserID": "u"}]}, timeout=5)
    assert answer.status_code == 503 and answer.headers["Content-Type"] == "text/html"


def test_an_unknown_fault_kind_is_refused():
    emulator = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY)
    with pytest.raises(ValueError, match="explode"):
        emulator.inject(Fault(kind="explode"))
    assert emulator.state.faults == []


# --- the control API over HTTP ----------------------------------------------------------------------


def test_the_control_api_seeds_reads_steers_and_resets_the_emulator(server, post):
    control = f"{server.url}/_emulator"
    seeded = requests.post(f"{control}/accounts", json={"accounts": {"u_1": {"Tag_Profile_IM_Nick": "one"}}},
                           timeout=5)
    assert seeded.status_code == 200 and seeded.json() == {"ok": True}

    profile = requests.get(f"{control}/profile", params={"user_id": "u_1"}, timeout=5)
    assert profile.json() == {"profile": {"Tag_Profile_IM_Nick": "one"}}
    assert requests.post(f"{control}/profile", json={"user_id": "u_1"}, timeout=5).json() == profile.json()

    fault = requests.post(f"{control}/faults", json={"kind": "error_code", "error_code": 40006}, timeout=5)
    assert fault.status_code == 200
    assert post(ACCOUNT_CHECK, {"CheckItem": [{"UserID": "u_1"}]})[1]["ErrorCode"] == 40006

    recorded = requests.get(f"{control}/requests", params={"command": ACCOUNT_CHECK}, timeout=5).json()["requests"]
    assert [(r["command"], r["error_code"], r["fault"]) for r in recorded] == [(ACCOUNT_CHECK, 40006, "error_code")]
    assert "usersig" not in recorded[0]["query"]

    assert requests.post(f"{control}/reset", json={}, timeout=5).json() == {"ok": True}
    assert server.emulator.state.accounts == {} and server.emulator.requests() == []
    missing = requests.get(f"{control}/profile", params={"user_id": "u_1"}, timeout=5)
    assert missing.status_code == 400


def test_the_control_api_defines_custom_tags_and_changes_a_profile_as_the_user(server):
    control = f"{server.url}/_emulator"
    requests.post(f"{control}/accounts", json={"accounts": {"u_1": {}}}, timeout=5)
    defined = requests.post(f"{control}/custom_tags", json={"custom_tags": [{"keyword": "Mood", "admin_write": False}]},
                            timeout=5)
    assert defined.status_code == 200
    assert server.emulator.state.custom_tags["Tag_Profile_Custom_Mood"].admin_write is False
    changed = requests.post(f"{control}/set_as_user",
                            json={"user_id": "u_1", "changes": {"Tag_Profile_Custom_Mood": "happy"}}, timeout=5)
    assert changed.status_code == 200
    assert server.emulator.profile("u_1") == {"Tag_Profile_Custom_Mood": "happy"}


@pytest.mark.parametrize(
    ("action", "payload", "status"),
    [
        ("nonsense", {}, 404),
        ("faults", {"kind": "explode"}, 400),
        ("faults", {"kind": "error_code", "no_such_field": 1}, 400),
        ("custom_tags", {"custom_tags": [{"keyword": "Bad1"}]}, 400),
        ("accounts", {"accounts": {" bad": {}}}, 400),
    ],
)
def test_the_control_api_answers_a_bad_call_with_an_http_error(server, action, payload, status):
    answer = requests.post(f"{server.url}/_emulator/{action}", json=payload, timeout=5)
    assert answer.status_code == status and answer.json()["error"]
    assert server.emulator.state.faults == [] and server.emulator.state.custom_tags == {}


def test_the_control_api_refuses_a_body_that_is_not_json(server):
    answer = requests.post(f"{server.url}/_emulator/faults", data=b"{nope", timeout=5)
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]
