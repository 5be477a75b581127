"""The emulator's Profile.CallbackPortraitSet (docs/tencent-im.md §8): signed, after each change, never
holding up REST."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from profiles.im.callback import CALLBACK_COMMAND, verify_callback
from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET, ImClient, ImError
from profiles.im.emulator import USER_CLIENT_IP, Emulator, EmulatorServer, Fault
from profiles.im.usersig import UserSigProvider

SDKAPPID = 1400000789
SECRET_KEY = "callback-test-secret-key"
TOKEN = "callback-test-token"
NICK = "Tag_Profile_IM_Nick"


@dataclass
class Received:
    query: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A webhook receiver on a loopback port: records each call; ``gate`` holds its answers."""

    url: str
    calls: list[Received] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            return

        def do_POST(self):  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            state.calls.append(Received({k: v[0] for k, v in parse_qs(parts.query).items()}, json.loads(raw)))
            state.arrived.set()
            state.gate.wait(10)
            payload = json.dumps({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/im/callback")
    state.gate.set()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def shared_server():
    emulator = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY, admin_identifiers=["administrator", "ops"])
    running = EmulatorServer(emulator, port=0).start()
    yield running
    running.stop()


@pytest.fixture
def emulator(shared_server, receiver) -> Emulator:
    """An emptied emulator with one account, calling back to ``receiver`` signed with TOKEN."""
    emulator = shared_server.emulator
    emulator.reset()
    emulator.add_account("u_1", {NICK: "old nick"})
    emulator.set_callback(receiver.url, TOKEN)
    return emulator


def make_client(server: EmulatorServer, identifier: str = "administrator") -> ImClient:
    provider = UserSigProvider(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier)
    return ImClient(base_url=server.url, sdkappid=SDKAPPID, usersig=provider)


@pytest.fixture
def client(shared_server) -> Iterator[ImClient]:
    im_client = make_client(shared_server)
    yield im_client
    im_client.session.close()


def set_profile(client: ImClient, *items: tuple[str, Any], account: str = "u_1"):
    return client.call(PORTRAIT_SET, {
        "From_Account": account, "ProfileItem": [{"Tag": tag, "Value": value} for tag, value in items],
    })


def test_a_successful_portrait_set_is_called_back_signed_with_the_admin_as_operator(emulator, client, receiver):
    before_ms = int(time.time() * 1000)
    set_profile(client, (NICK, "new nick"), ("Tag_Profile_IM_Level", 3))
    assert emulator.wait_for_callbacks(5)
    [call] = receiver.calls
    assert verify_callback(token=TOKEN, sign=call.query["Sign"], request_time=call.query["RequestTime"])
    assert call.query["SdkAppid"] == str(SDKAPPID) and call.query["CallbackCommand"] == CALLBACK_COMMAND
    assert call.query["contenttype"] == "json" and call.query["OptPlatform"] == "RESTAPI"
    assert call.query["ClientIP"] == "127.0.0.1"
    assert call.body["CallbackCommand"] == CALLBACK_COMMAND
    assert call.body["Operator_Account"] == "administrator" and call.body["From_Account"] == "u_1"
    assert call.body["ProfileItem"] == [{"Tag": NICK, "Value": "new nick"}, {"Tag": "Tag_Profile_IM_Level", "Value": 3}]
    assert before_ms <= call.body["EventTime"] <= int(time.time() * 1000)
    [delivery] = emulator.callback_deliveries()
    assert delivery.ok and delivery.status == 200 and delivery.error == "" and delivery.body == call.body


def test_the_operator_is_the_admin_identifier_that_made_the_call(emulator, shared_server, receiver):
    ops = make_client(shared_server, identifier="ops")
    set_profile(ops, (NICK, "by ops"))
    ops.session.close()
    assert emulator.wait_for_callbacks(5)
    assert [call.body["Operator_Account"] for call in receiver.calls] == ["ops"]


def test_a_refused_portrait_set_is_not_called_back(emulator, client, receiver):
    with pytest.raises(ImError):
        set_profile(client, ("Tag_Profile_IM_Gender", "Gender_Type_Robot"))
    emulator.inject(Fault(kind="error_code", error_code=40006, command=PORTRAIT_SET))
    with pytest.raises(ImError):
        set_profile(client, (NICK, "never applied"))
    with pytest.raises(ImError):
        set_profile(client, (NICK, "no such user"), account="u_404")
    client.call(PORTRAIT_GET, {"To_Account": ["u_1"], "TagList": [NICK]})
    assert emulator.wait_for_callbacks(5)
    assert receiver.calls == [] and emulator.callback_deliveries() == []
    assert emulator.profile("u_1")[NICK] == "old nick"


def test_a_change_as_the_user_is_called_back_with_the_user_as_operator(emulator, receiver):
    emulator.set_as_user("u_1", {NICK: "chosen by me"}, platform="Android")
    assert emulator.wait_for_callbacks(5)
    [call] = receiver.calls
    assert call.body["Operator_Account"] == "u_1" and call.body["From_Account"] == "u_1"
    assert call.body["ProfileItem"] == [{"Tag": NICK, "Value": "chosen by me"}]
    assert call.query["OptPlatform"] == "Android" and call.query["ClientIP"] == USER_CLIENT_IP
    assert emulator.profile("u_1")[NICK] == "chosen by me"


def test_a_change_as_the_user_is_on_ios_unless_told_and_refuses_an_unknown_platform(emulator, receiver):
    emulator.set_as_user("u_1", {NICK: "a"})
    with pytest.raises(ValueError, match="platform"):
        emulator.set_as_user("u_1", {NICK: "b"}, platform="Palm")
    assert emulator.wait_for_callbacks(5)
    assert [call.query["OptPlatform"] for call in receiver.calls] == ["iOS"]
    assert emulator.profile("u_1")[NICK] == "a"


def test_the_rest_answer_does_not_wait_for_a_slow_receiver(emulator, client, receiver):
    receiver.gate.clear()  # the receiver holds every answer until the gate opens
    emulator.set_callback(receiver.url, TOKEN, timeout=10)
    answer = set_profile(client, (NICK, "quick"))
    assert answer.error_code == 0
    # Answered while the delivery is still unfinished: nothing recorded yet.
    assert receiver.arrived.wait(5) and emulator.callback_deliveries() == []
    receiver.gate.set()
    assert emulator.wait_for_callbacks(5)
    assert [d.status for d in emulator.callback_deliveries()] == [200]


def test_a_receiver_that_cannot_be_reached_is_recorded_and_never_breaks_rest(emulator, client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    emulator.set_callback(f"http://127.0.0.1:{closed_port}/im/callback", TOKEN, timeout=1)
    assert set_profile(client, (NICK, "one")).error_code == 0
    assert set_profile(client, (NICK, "two")).error_code == 0
    assert emulator.wait_for_callbacks(10)
    deliveries = emulator.callback_deliveries()
    assert [(d.status, d.error) for d in deliveries] == [(None, "ConnectionError")] * 2
    assert not any(d.ok for d in deliveries) and emulator.profile("u_1")[NICK] == "two"


def test_a_receiver_answering_an_error_status_is_recorded(emulator, client, receiver):
    receiver.status = 403
    set_profile(client, (NICK, "refused by the receiver"))
    assert emulator.wait_for_callbacks(5)
    [delivery] = emulator.callback_deliveries()
    assert delivery.status == 403 and not delivery.ok


def test_without_a_token_the_callback_is_unsigned(emulator, client, receiver):
    emulator.set_callback(receiver.url)
    set_profile(client, (NICK, "unsigned"))
    assert emulator.wait_for_callbacks(5)
    [call] = receiver.calls
    assert "Sign" not in call.query and "RequestTime" not in call.query


def test_callbacks_are_delivered_in_order(emulator, client, receiver):
    for number in range(5):
        set_profile(client, (NICK, f"nick {number}"))
    assert emulator.wait_for_callbacks(5)
    assert [call.body["ProfileItem"][0]["Value"] for call in receiver.calls] == [f"nick {n}" for n in range(5)]


def test_reset_forgets_queued_callbacks_and_the_callback_config(emulator, client, receiver):
    receiver.gate.clear()
    emulator.set_callback(receiver.url, TOKEN, timeout=10)
    for number in range(3):
        set_profile(client, (NICK, f"nick {number}"))
    assert receiver.arrived.wait(5)  # the first is being delivered, two are queued
    emulator.reset()
    receiver.gate.set()
    assert emulator.wait_for_callbacks(5)
    assert len(receiver.calls) == 1 and emulator.callback_deliveries() == []
    emulator.add_account("u_1", {NICK: "x"})
    set_profile(client, (NICK, "after reset"))
    assert emulator.wait_for_callbacks(5) and len(receiver.calls) == 1


def test_no_callback_url_means_no_callback(emulator, client, receiver):
    emulator.set_callback("")
    set_profile(client, (NICK, "quiet"))
    emulator.set_as_user("u_1", {NICK: "quiet too"})
    assert emulator.wait_for_callbacks(5)
    assert receiver.calls == [] and emulator.callback_deliveries() == []


def test_a_callback_url_that_is_not_http_is_refused(emulator):
    with pytest.raises(ValueError, match="http"):
        emulator.set_callback("ftp://127.0.0.1/im/callback")


def test_the_control_api_sets_the_callback_changes_as_the_user_and_lists_deliveries(emulator, shared_server,
                                                                                    receiver):
    emulator.set_callback("")
    control = f"{shared_server.url}/_emulator"
    assert requests.post(f"{control}/callback", json={"url": receiver.url, "token": TOKEN}, timeout=5).ok
    answer = requests.post(f"{control}/set_as_user", timeout=5,
                           json={"user_id": "u_1", "changes": {NICK: "via control"}, "platform": "Web"})
    assert answer.ok
    listed = requests.post(f"{control}/callbacks", json={"wait": 5}, timeout=10).json()["callbacks"]
    assert [(d["status"], d["query"]["OptPlatform"], d["body"]["Operator_Account"]) for d in listed] == [
        (200, "Web", "u_1")
    ]
    [call] = receiver.calls
    assert verify_callback(token=TOKEN, sign=call.query["Sign"], request_time=call.query["RequestTime"])
    assert TOKEN not in json.dumps(listed)


def test_the_emulator_can_be_built_with_a_callback(receiver):
    emulator = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY, callback_url=receiver.url, callback_token=TOKEN)
    emulator.add_account("u_2")
    try:
        emulator.set_as_user("u_2", {NICK: "hello"})
        assert emulator.wait_for_callbacks(5)
        assert [call.body["From_Account"] for call in receiver.calls] == ["u_2"]
        assert TOKEN not in repr(emulator.state)
    finally:
        emulator.close()
