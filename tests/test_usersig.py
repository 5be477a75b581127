"""UserSig: docs/tencent-im.md §7 test vectors, decoding, verification codes, the official package, and the cache."""

from __future__ import annotations

import base64
import json
import traceback
import types
import zlib

import pytest
import TLSSigAPIv2

from profiles.im.usersig import (
    DecodedUserSig,
    UserSigError,
    UserSigProvider,
    decode_usersig,
    generate_usersig,
    verify_usersig,
)

# docs/tencent-im.md §7 test vectors
SDKAPPID = 1400000000
SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
NOW = 1600000000
VECTORS = [
    ("xiaojun", 15552000, "1Z5PngDjGaufeSiPoBuxdHY7EK3JTdAjMP93S4KvV3M="),
    ("administrator", 86400, "los0WU+OsAqKAMeEseEb6GMMPAPQp6knnzQ5XIlQj0U="),
]


def admin_sig(**overrides) -> str:
    arguments = {"sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "identifier": "administrator",
                 "expire": 86400, "now": NOW}
    arguments.update(overrides)
    return generate_usersig(**arguments)


def verify(usersig: str, **overrides) -> DecodedUserSig:
    arguments = {"sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "identifier": "administrator", "now": NOW}
    arguments.update(overrides)
    return verify_usersig(usersig, **arguments)


def url_b64(data: bytes) -> str:
    return base64.b64encode(data).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def raw_document(usersig: str) -> dict:
    """Decode by hand, independently of the module under test (docs/tencent-im.md §7 steps 6 → 4, reversed)."""
    standard = usersig.replace("*", "+").replace("-", "/").replace("_", "=")
    return json.loads(zlib.decompress(base64.b64decode(standard)))


# --- docs/tencent-im.md §7 test vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(("identifier", "expire", "expected_sig"), VECTORS)
def test_generate_matches_the_spec_test_vector(identifier, expire, expected_sig):
    usersig = generate_usersig(
        sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier, expire=expire, now=NOW
    )
    decoded = decode_usersig(usersig)
    assert decoded.sig == expected_sig
    assert (decoded.version, decoded.identifier, decoded.sdkappid, decoded.time, decoded.expire) == (
        "2.0", identifier, SDKAPPID, NOW, expire,
    )


@pytest.mark.parametrize(("identifier", "expire", "expected_sig"), VECTORS)
def test_the_generated_document_has_the_spec_fields_and_json_types(identifier, expire, expected_sig):
    usersig = generate_usersig(
        sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier, expire=expire, now=NOW
    )
    assert raw_document(usersig) == {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": SDKAPPID,
        "TLS.expire": expire,
        "TLS.time": NOW,
        "TLS.sig": expected_sig,
    }


def test_the_usersig_uses_only_the_url_safe_alphabet():
    usersig = admin_sig()
    assert not set(usersig) & set("+/=")
    assert set(usersig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_")


def test_the_usersig_is_a_zlib_stream_not_raw_deflate_or_gzip():
    standard = admin_sig().replace("*", "+").replace("-", "/").replace("_", "=")
    compressed = base64.b64decode(standard)
    # zlib header: CMF 0x78 and (CMF*256 + FLG) divisible by 31; gzip would start 0x1f 0x8b.
    assert compressed[0] == 0x78 and (compressed[0] * 256 + compressed[1]) % 31 == 0


def test_decode_reverses_url_safe_base64_and_zlib_of_any_key_order_and_spacing():
    # The official libraries differ in key order and spacing (docs/tencent-im.md §7); decode must not care.
    document = {
        "TLS.sig": "c2lnbmF0dXJlKy89",
        "TLS.time": 1234,
        "TLS.expire": 60,
        "TLS.sdkappid": 1400000001,
        "TLS.identifier": "someone",
        "TLS.ver": "2.0",
    }
    usersig = url_b64(zlib.compress(json.dumps(document, indent=2).encode(), level=9))
    assert any(char in usersig for char in "*-_")  # the translation is really exercised
    decoded = decode_usersig(usersig)
    assert (decoded.version, decoded.identifier, decoded.sdkappid, decoded.time, decoded.expire, decoded.sig) == (
        "2.0", "someone", 1400000001, 1234, 60, "c2lnbmF0dXJlKy89",
    )
    assert decoded.expires_at == 1294


# --- verification --------------------------------------------------------------------------------


def test_verify_accepts_a_valid_usersig_until_the_last_second_of_its_validity():
    usersig = admin_sig(expire=86400)
    assert verify(usersig, now=NOW).identifier == "administrator"
    assert verify(usersig, now=NOW + 86400).expires_at == NOW + 86400


@pytest.mark.parametrize(
    ("usersig", "overrides", "code"),
    [
        (admin_sig(), {"secret_key": "another-secret-key"}, 70009),
        (admin_sig(), {"identifier": "someone_else"}, 70013),
        (admin_sig(), {"sdkappid": SDKAPPID + 1}, 70014),
        (admin_sig(expire=86400), {"now": NOW + 86400 + 1}, 70001),
        (admin_sig(expire=60, now=NOW - 3600), {}, 70001),
        ("this is not a usersig", {}, 70003),
        (url_b64(b"valid base64 but not zlib"), {}, 70003),
        (url_b64(zlib.compress(b"not json")), {}, 70003),
        (url_b64(zlib.compress(b'{"TLS.ver": "2.0"}')), {}, 70003),
        (url_b64(zlib.compress(b"[1, 2]")), {}, 70003),
        ("", {}, 70002),
    ],
    ids=[
        "wrong-key", "other-identifier", "other-sdkappid", "one-second-late", "long-expired",
        "garbage", "not-zlib", "not-json", "missing-fields", "not-an-object", "empty",
    ],
)
def test_verify_raises_the_documented_error_code(usersig, overrides, code):
    with pytest.raises(UserSigError) as caught:
        verify(usersig, **overrides)
    assert caught.value.error_code == code


def test_a_tampered_time_fails_the_signature_check():
    document = raw_document(admin_sig(expire=60))
    document["TLS.expire"] = 10**9  # try to extend the validity without the key
    with pytest.raises(UserSigError) as caught:
        verify(url_b64(zlib.compress(json.dumps(document).encode())))
    assert caught.value.error_code == 70009


def test_a_non_ascii_signature_is_a_70009_not_a_crash():
    document = raw_document(admin_sig())
    document["TLS.sig"] = "é" * 44
    with pytest.raises(UserSigError) as caught:
        verify(url_b64(zlib.compress(json.dumps(document).encode())))
    assert caught.value.error_code == 70009


def test_decode_raises_70003_for_garbage():
    with pytest.raises(UserSigError) as caught:
        decode_usersig("%%%")
    assert caught.value.error_code == 70003


# --- the official package (tls-sig-api-v2 1.1) as a cross-check ------------------------------------


@pytest.fixture
def official_clock(monkeypatch):
    """Fix the clock the official package reads: it calls ``time.time()`` on its own ``time`` import.

    Only that module's name is replaced, so the rest of the process keeps the real clock.
    """
    monkeypatch.setattr(TLSSigAPIv2, "time", types.SimpleNamespace(time=lambda: NOW + 0.75))


@pytest.mark.parametrize(("identifier", "expire", "expected_sig"), VECTORS)
def test_our_verify_accepts_a_usersig_from_the_official_package(official_clock, identifier, expire, expected_sig):
    official = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, SECRET_KEY).gen_sig(identifier, expire)
    decoded = verify_usersig(official, sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier, now=NOW)
    assert decoded.sig == expected_sig
    ours = decode_usersig(
        generate_usersig(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier, expire=expire, now=NOW)
    )
    assert decoded == ours  # every field, TLS.sig included
    assert raw_document(official) == raw_document(
        generate_usersig(sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier=identifier, expire=expire, now=NOW)
    )


def test_the_official_package_clock_fix_really_applies(official_clock):
    official = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, SECRET_KEY).gen_sig("administrator", 86400)
    assert decode_usersig(official).time == NOW


def test_our_verify_rejects_an_official_usersig_signed_with_another_key(official_clock):
    official = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, "another-secret-key").gen_sig("administrator", 86400)
    with pytest.raises(UserSigError) as caught:
        verify(official)
    assert caught.value.error_code == 70009


# --- UserSigProvider: the cache ------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provider(clock: FakeClock, *, expire: int = 1000, refresh_margin: int = 100) -> UserSigProvider:
    return UserSigProvider(
        sdkappid=SDKAPPID, secret_key=SECRET_KEY, identifier="administrator",
        expire=expire, refresh_margin=refresh_margin, clock=clock,
    )


def test_the_provider_hands_out_the_same_usersig_while_it_is_fresh():
    clock = FakeClock(NOW)
    sigs = provider(clock)
    first = sigs.get()
    clock.now = NOW + 899  # 101 s before expiry, outside the 100 s margin
    assert sigs.get() == first
    assert sigs.generated_count == 1


def test_the_provider_usersig_verifies_for_its_identifier():
    sigs = provider(FakeClock(NOW))
    decoded = verify(sigs.get())
    assert (decoded.identifier, decoded.time, decoded.expire) == ("administrator", NOW, 1000)


def test_the_provider_regenerates_once_within_the_refresh_margin_of_expiry():
    clock = FakeClock(NOW)
    sigs = provider(clock)
    first = sigs.get()
    clock.now = NOW + 900  # exactly the margin before expiry
    second = sigs.get()
    assert second != first
    assert decode_usersig(second).time == NOW + 900
    assert sigs.generated_count == 2
    clock.now = NOW + 901
    assert sigs.get() == second and sigs.generated_count == 2


def test_invalidate_forces_a_new_usersig_on_the_next_get():
    clock = FakeClock(NOW)
    sigs = provider(clock)
    first = sigs.get()
    clock.now = NOW + 1  # a different second, so the new string differs
    sigs.invalidate()
    second = sigs.get()
    assert second != first and sigs.generated_count == 2
    assert decode_usersig(second).time == NOW + 1


def test_the_provider_refuses_a_validity_no_longer_than_its_refresh_margin():
    with pytest.raises(ValueError, match="refresh margin"):
        provider(FakeClock(NOW), expire=100, refresh_margin=100)


# --- secrets stay out of reprs and messages ------------------------------------------------------


def test_the_provider_repr_contains_neither_the_secret_key_nor_the_usersig():
    sigs = provider(FakeClock(NOW))
    usersig = sigs.get()
    text = repr(sigs) + str(sigs)
    assert "administrator" in text
    assert SECRET_KEY not in text and usersig not in text


def test_the_decoded_usersig_repr_leaves_out_the_hmac_and_the_key():
    decoded = decode_usersig(admin_sig())
    text = repr(decoded) + str(decoded)
    assert "administrator" in text and str(NOW) in text
    assert decoded.sig not in text and SECRET_KEY not in text


@pytest.mark.parametrize(
    ("usersig", "overrides"),
    [
        (admin_sig(), {"secret_key": "another-secret-key"}),
        (admin_sig(), {"identifier": "someone_else"}),
        (admin_sig(), {"sdkappid": SDKAPPID + 1}),
        (admin_sig(), {"now": NOW + 10**6}),
        ("this-is-garbage*-_but-long-enough-to-notice-if-it-were-quoted", {}),
        (url_b64(b"valid base64 but not zlib, long enough to notice"), {}),
    ],
    ids=["wrong-key", "other-identifier", "other-sdkappid", "expired", "garbage", "not-zlib"],
)
def test_a_usersig_error_never_quotes_the_usersig(usersig, overrides):
    with pytest.raises(UserSigError) as caught:
        verify(usersig, **overrides)
    text = str(caught.value) + repr(caught.value) + "".join(traceback.format_exception(caught.value))
    assert caught.value.error_code  # a real failure, not a pass-through
    assert usersig not in text
    assert decode_usersig(admin_sig()).sig not in text
    assert SECRET_KEY not in text
