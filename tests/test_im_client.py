"""ImClient against the emulator over HTTP on a loopback port: URL, answers, IM errors, transport errors."""

from __future__ import annotations

import http.server
import itertools
import socket
import threading
import traceback
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest

from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET, ImClient, ImError, ImResponse, TransportError
from profiles.im.emulator import Emulator, EmulatorServer, Fault
from profiles.im.tags import CustomTag
from profiles.im.usersig import UserSigProvider, decode_usersig, generate_usersig

SDKAPPID = 1400000123
SECRET_KEY = "client-test-secret-key"
ADMIN = "administrator"


def start_server() -> EmulatorServer:
    emulator = Emulator(sdkappid=SDKAPPID, secret_key=SECRET_KEY, admin_identifiers=[ADMIN])
    return EmulatorServer(emulator, port=0).start()


@pytest.fixture(scope="module")
def shared_server():
    running = start_server()
    yield running
    running.stop()


@pytest.fixture
def server(shared_server):
    """The module's emulated app, emptied and seeded with one account for each test."""
    shared_server.emulator.reset()
    shared_server.emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "old nick"})
    return shared_server


@pytest.fixture
def private_server():
    """An emulated app of its own, for a test whose request outlives it (the delay fault)."""
    running = start_server()
    running.emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "old nick"})
    yield running
    running.stop()


@pytest.fixture
def emulator(server) -> Emulator:
    return server.emulator


def make_client(
    base_url: str, *, sdkappid: int = SDKAPPID, secret_key: str = SECRET_KEY, identifier: str = ADMIN,
    read_timeout: float = 5.0,
) -> ImClient:
    provider = UserSigProvider(sdkappid=sdkappid, secret_key=secret_key, identifier=identifier)
    return ImClient(base_url=base_url, sdkappid=sdkappid, usersig=provider, read_timeout=read_timeout)


@pytest.fixture
def client(server) -> ImClient:
    im_client = make_client(server.url)
    yield im_client
    im_client.session.close()


def set_nick(client: ImClient, nick: str = "new nick", account: str = "u_1") -> ImResponse:
    return client.call(PORTRAIT_SET, {"From_Account": account, "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick",
                                                                               "Value": nick}]})


def assert_no_usersig(exc: BaseException, usersig: str) -> None:
    """Neither the exception nor anything chained to it may carry the UserSig, raw or URL-encoded."""
    forms = {usersig, quote_plus(usersig), quote(usersig, safe="*")}
    texts = ["".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args), str(getattr(seen, "response_text", ""))]
        seen = seen.__cause__ or seen.__context__
    for text in texts:
        for form in forms:
            assert form not in text


# --- the URL (docs/tencent-im.md §1) ---------------------------------------------------------------------------


def test_the_url_has_exactly_the_five_query_parameters_of_the_spec(server):
    # A UserSig holds "*" only when its base64 has a "+" (about 19 in 20 do): the clock is fixed at
    # the first second from a set instant whose UserSig has one, so the test sees one every run.
    issued = next(
        second for second in itertools.count(1_790_000_000)
        if "*" in generate_usersig(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=ADMIN, now=second)
    )
    provider = UserSigProvider(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=ADMIN, clock=lambda: issued)
    client = ImClient(base_url=server.url, sdkappid=SDKAPPID, usersig=provider)
    url = client.build_url(PORTRAIT_SET, 12345)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.url
    assert parts.path == "/v4/profile/portrait_set"
    query = parse_qs(parts.query, keep_blank_values=True)
    assert set(query) == {"sdkappid", "identifier", "usersig", "random", "contenttype"}
    assert all(len(values) == 1 for values in query.values())
    assert query["sdkappid"] == [str(SDKAPPID)]
    assert query["identifier"] == [ADMIN]
    assert query["random"] == ["12345"]
    assert query["contenttype"] == ["json"]
    # The UserSig survives URL encoding (it contains "*") and was made for the admin identifier.
    assert "*" in client.usersig.get()
    assert query["usersig"] == [client.usersig.get()]
    # "*" goes unescaped, as Tencent's SDKs send it: a "%" anywhere in the query costs urllib3 a
    # byte-by-byte rescan of the whole UserSig on every call.
    assert "%" not in parts.query
    assert decode_usersig(query["usersig"][0]).identifier == ADMIN


def test_the_emulator_receives_the_query_without_recording_the_usersig(client, emulator):
    set_nick(client)
    [record] = emulator.requests(PORTRAIT_SET)
    assert set(record.query) == {"sdkappid", "identifier", "random", "contenttype"}
    assert record.query["sdkappid"] == str(SDKAPPID)
    assert record.query["identifier"] == ADMIN
    assert record.query["contenttype"] == "json"
    assert record.body == {"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick",
                                                                   "Value": "new nick"}]}


def test_random_is_fresh_per_call_and_a_uint32(client, emulator):
    first, second = set_nick(client, "one"), set_nick(client, "two")
    assert first.random != second.random
    recorded = [int(record.query["random"]) for record in emulator.requests(PORTRAIT_SET)]
    assert recorded == [first.random, second.random]
    assert all(0 <= value <= 2**32 - 1 for value in recorded)


def test_an_explicit_random_is_sent_as_given(client, emulator):
    response = client.call(PORTRAIT_GET, {"To_Account": ["u_1"], "TagList": ["Tag_Profile_IM_Nick"]},
                           random=4294967295)
    assert response.random == 4294967295
    assert emulator.requests(PORTRAIT_GET)[-1].query["random"] == "4294967295"


# --- success --------------------------------------------------------------------------------------


def test_a_successful_call_returns_an_ok_response_and_changes_the_profile(client, emulator):
    response = set_nick(client)
    assert isinstance(response, ImResponse)
    assert response.ok and response.error_code == 0 and response.action_status == "OK"
    assert response.http_status == 200 and response.command == PORTRAIT_SET and response.latency_ms > 0
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "new nick"


def test_a_non_ascii_value_reaches_the_emulator_intact(client, emulator):
    set_nick(client, "小军 é")
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "小军 é"


# --- IM errors from the emulator's real validation (docs/tencent-im.md §3, §4) ---------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"From_Account": "u_1"}, 40001),
        ({"From_Account": "nobody", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x"}]}, 40003),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_Custom_Locked", "Value": "x"}]}, 40008),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_Custom_Nope", "Value": "x"}]}, 40009),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "中" * 167}]}, 40601),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Location", "Value": "x" * 17}]}, 40601),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Gender", "Value": "Robot"}]}, 40605),
        ({"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Level", "Value": "12"}]}, 40610),
    ],
    ids=[
        "missing-profile-item", "unknown-account", "custom-tag-without-admin-write", "undefined-tag",
        "501-byte-nick", "17-byte-location", "bad-enum", "string-for-uint32",
    ],
)
def test_a_portrait_set_refused_by_validation_raises_a_final_im_error(client, emulator, body, code):
    emulator.define_custom_tag(CustomTag(keyword="Locked", admin_write=False))
    before = emulator.profile("u_1")
    with pytest.raises(ImError) as caught:
        client.call(PORTRAIT_SET, body)
    error = caught.value
    assert error.error_code == code
    assert error.info.code == code and error.info.known and error.info.meaning
    assert error.retryable is False
    assert error.response.action_status == "FAIL" and error.response.http_status == 200
    assert str(code) in str(error) and error.command == PORTRAIT_SET
    assert emulator.profile("u_1") == before
    assert_no_usersig(error, client.usersig.get())


def test_a_16_byte_location_is_accepted_by_the_emulator(client, emulator):
    client.call(PORTRAIT_SET, {"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Location",
                                                                       "Value": "x" * 16}]})
    assert emulator.profile("u_1")["Tag_Profile_IM_Location"] == "x" * 16


def test_an_injected_40006_is_a_retryable_im_error(client, emulator):
    emulator.inject(Fault(kind="error_code", error_code=40006))
    with pytest.raises(ImError) as caught:
        set_nick(client)
    assert caught.value.error_code == 40006 and caught.value.retryable is True
    assert caught.value.info.meaning
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "old nick"


# --- configuration errors (docs/tencent-im.md §6) --------------------------------------------------------------


def test_a_wrong_secret_key_gives_70009(server):
    wrong = make_client(server.url, secret_key="not-the-key")
    with pytest.raises(ImError) as caught:
        set_nick(wrong)
    assert caught.value.error_code == 70009 and caught.value.retryable is False
    assert_no_usersig(caught.value, wrong.usersig.get())


def test_an_identifier_that_is_not_an_app_admin_gives_60010(server):
    outsider = make_client(server.url, identifier="u_1")
    with pytest.raises(ImError) as caught:
        set_nick(outsider)
    assert caught.value.error_code == 60010 and caught.value.retryable is False


def test_an_unknown_sdkappid_gives_70020(server):
    stranger = make_client(server.url, sdkappid=1400999999)
    with pytest.raises(ImError) as caught:
        set_nick(stranger)
    assert caught.value.error_code == 70020 and caught.value.retryable is False


# --- transport errors (docs/tencent-im.md §1, §6) --------------------------------------------------------------


def test_an_http_502_is_a_retryable_transport_error(client, emulator):
    emulator.inject(Fault(kind="http_status", http_status=502))
    with pytest.raises(TransportError) as caught:
        set_nick(client)
    error = caught.value
    assert error.http_status == 502 and error.retryable is True
    assert "HTTP 502" in str(error) and "Bad Gateway" in error.response_text
    assert_no_usersig(error, client.usersig.get())


def test_an_http_404_is_a_final_transport_error(client, emulator):
    emulator.inject(Fault(kind="http_status", http_status=404))
    with pytest.raises(TransportError) as caught:
        set_nick(client)
    assert caught.value.http_status == 404 and caught.value.retryable is False


def test_a_body_that_is_not_json_is_a_retryable_transport_error(client, emulator):
    emulator.inject(Fault(kind="not_json"))
    with pytest.raises(TransportError) as caught:
        set_nick(client)
    error = caught.value
    assert "not a JSON object" in error.reason and error.http_status == 200 and error.retryable is True
    assert "upstream error" in error.response_text
    assert_no_usersig(error, client.usersig.get())


@pytest.mark.parametrize("body", [{}, {"UserProfileItem": []}])
def test_a_json_answer_without_an_error_code_is_not_taken_for_a_success(client, emulator, body):
    emulator.inject(Fault(kind="json_body", body=body))
    with pytest.raises(TransportError) as caught:
        set_nick(client)
    assert "no ActionStatus or ErrorCode" in caught.value.reason and caught.value.retryable is True


def test_a_dropped_connection_is_a_retryable_transport_error(client, emulator):
    emulator.inject(Fault(kind="drop"))
    with pytest.raises(TransportError) as caught:
        set_nick(client)
    error = caught.value
    assert error.http_status is None and error.retryable is True
    assert "connect" in error.reason
    assert_no_usersig(error, client.usersig.get())
    # The fault was used up: the next call on the same client succeeds.
    assert set_nick(client).ok


def test_an_answer_slower_than_the_read_timeout_is_a_timed_out_transport_error(private_server):
    # The single slow test: the read timeout must exceed 3 s (docs/tencent-im.md §1), so the delay must too.
    # Its own server, because the delayed request is still handled after the client gave up.
    slow = make_client(private_server.url, read_timeout=3.2)
    private_server.emulator.inject(Fault(kind="delay", delay=3.5))
    with pytest.raises(TransportError) as caught:
        set_nick(slow)
    error = caught.value
    assert "timed out" in str(error) and error.retryable is True and error.http_status is None
    assert error.latency_ms >= 3200
    assert_no_usersig(error, slow.usersig.get())


def test_a_refused_connection_is_a_retryable_transport_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = make_client(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(TransportError) as caught:
        set_nick(refused)
    error = caught.value
    assert "could not connect" in str(error) and error.retryable is True and error.http_status is None
    assert error.__cause__ is None and error.__context__ is None
    assert_no_usersig(error, refused.usersig.get())


# --- keep-alive and settings -----------------------------------------------------------------------


def test_sequential_calls_reuse_one_connection(client, server, monkeypatch):
    # Counted where the server accepts connections: urllib3's own counters miss a silent reconnect.
    accepted = []
    accept = server.httpd.get_request

    def counting_accept():
        connection, address = accept()
        accepted.append(address)
        return connection, address

    monkeypatch.setattr(server.httpd, "get_request", counting_accept)
    assert set_nick(client, "one").ok and set_nick(client, "two").ok and set_nick(client, "three").ok
    assert len(server.emulator.requests(PORTRAIT_SET)) == 3
    assert len(accepted) == 1


@pytest.mark.parametrize("read_timeout", [3, 3.0, 2.5, 0])
def test_the_client_refuses_a_read_timeout_of_3_seconds_or_less(read_timeout):
    provider = UserSigProvider(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=ADMIN)
    with pytest.raises(ValueError, match="3 s"):
        ImClient(base_url="http://127.0.0.1:1", sdkappid=SDKAPPID, usersig=provider, read_timeout=read_timeout)


def test_the_client_repr_leaves_out_the_usersig(client):
    assert client.usersig.get() not in repr(client) and SECRET_KEY not in repr(client)


def test_concurrent_calls_keep_their_connections_alive(client, emulator, caplog):
    """A job worker has IM_JOB_CONCURRENCY calls in flight; each keeps its keep-alive connection
    (requests' default pool of 10 would drop and reopen the surplus on every round)."""
    from concurrent.futures import ThreadPoolExecutor

    emulator.set_latency(0.05)
    calls = 16
    with caplog.at_level("WARNING", logger="urllib3"), ThreadPoolExecutor(max_workers=calls) as pool:
        for _round in range(2):
            list(pool.map(lambda n: set_nick(client, f"nick {n}"), range(calls)))
    assert not [record for record in caplog.records if "pool is full" in record.getMessage()]
    assert len(emulator.requests(PORTRAIT_SET)) == 2 * calls


def test_a_proxy_named_in_the_environment_carries_the_calls(monkeypatch):
    """HTTP_PROXY (read once, when the client is made) is used for every call: the proxy gets the
    absolute URL in its request line, as a forward proxy does, and its answer is the client's."""
    seen: list[str] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.requestline)
            body = b'{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        proxied = make_client("http://im.example.invalid")
        response = proxied.call(PORTRAIT_SET, {"From_Account": "u_1", "ProfileItem": []})
        proxied.session.close()
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert response.ok
    assert len(seen) == 1 and seen[0].startswith("POST http://im.example.invalid/v4/profile/portrait_set?sdkappid=")
