"""UserSig generation, decoding and verification (TLSSigAPIv2, HMAC-SHA256; docs/tencent-im.md §7).

A UserSig is a credential: nothing here puts one, or the secret key, in a repr or an exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_EXPIRE_SECONDS = 86_400
# Reuse a cached UserSig until this long before it expires (docs/tencent-im.md §7: "shortly before").
DEFAULT_REFRESH_MARGIN_SECONDS = 300


class UserSigError(ValueError):
    """A UserSig that cannot be decoded or does not verify. The message never contains the sig."""

    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True)
class DecodedUserSig:
    version: str
    identifier: str
    sdkappid: int
    time: int
    expire: int
    sig: str = ""

    def __repr__(self) -> str:  # keep the HMAC out of logs and tracebacks
        return (
            f"DecodedUserSig(identifier={self.identifier!r}, sdkappid={self.sdkappid}, "
            f"time={self.time}, expire={self.expire})"
        )

    @property
    def expires_at(self) -> int:
        return self.time + self.expire


def _hmac_sig(secret_key: str, identifier: str, sdkappid: int, now: int, expire: int) -> str:
    # docs/tencent-im.md §7 step 2: four lines, each ending with "\n", the last included.
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{now}\n"
        f"TLS.expire:{expire}\n"
    )
    digest = hmac.new(secret_key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_b64encode(data: bytes) -> str:
    # docs/tencent-im.md §7 step 6: standard base64, then + → *, / → -, = → _
    return base64.b64encode(data).decode("ascii").translate(str.maketrans("+/=", "*-_"))


def _url_b64decode(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("*-_", "+/=")), validate=True)


def generate_usersig(
    *, sdkappid: int, secret_key: str, identifier: str, expire: int = DEFAULT_EXPIRE_SECONDS,
    now: int | None = None,
) -> str:
    """Generate a UserSig for ``identifier`` valid ``expire`` seconds from ``now`` (docs/tencent-im.md §7)."""
    issued = int(time.time()) if now is None else int(now)
    document = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": int(sdkappid),
        "TLS.expire": int(expire),
        "TLS.time": issued,
        "TLS.sig": _hmac_sig(secret_key, identifier, int(sdkappid), issued, int(expire)),
    }
    compact = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return _url_b64encode(zlib.compress(compact))


def decode_usersig(usersig: str) -> DecodedUserSig:
    """Reverse docs/tencent-im.md §7 steps 4–6 without checking the signature."""
    try:
        raw = zlib.decompress(_url_b64decode(usersig))
        document = json.loads(raw)
        return DecodedUserSig(
            version=str(document["TLS.ver"]),
            identifier=str(document["TLS.identifier"]),
            sdkappid=int(document["TLS.sdkappid"]),
            time=int(document["TLS.time"]),
            expire=int(document["TLS.expire"]),
            sig=str(document["TLS.sig"]),
        )
    except Exception:
        # from None: the original exception may quote the UserSig's bytes.
        raise UserSigError("The UserSig could not be decoded.", 70003) from None


def verify_usersig(
    usersig: str, *, sdkappid: int, secret_key: str, identifier: str, now: int | None = None
) -> DecodedUserSig:
    """Check a UserSig the way Tencent does and raise UserSigError with the documented code."""
    if not usersig:
        raise UserSigError("The UserSig is empty.", 70002)
    decoded = decode_usersig(usersig)
    if decoded.identifier != identifier:
        raise UserSigError("The UserSig was made for another identifier.", 70013)
    if decoded.sdkappid != int(sdkappid):
        raise UserSigError("The UserSig was made for another SDKAppID.", 70014)
    expected = _hmac_sig(secret_key, decoded.identifier, decoded.sdkappid, decoded.time, decoded.expire)
    # Compare bytes: compare_digest raises TypeError on a str with non-ASCII characters.
    if not hmac.compare_digest(expected.encode("ascii"), decoded.sig.encode("utf-8")):
        raise UserSigError("The UserSig's signature does not match the secret key.", 70009)
    current = int(time.time()) if now is None else int(now)
    if current > decoded.expires_at:
        raise UserSigError("The UserSig has expired.", 70001)
    return decoded


class UserSigProvider:
    """Caches one admin UserSig and hands it out until shortly before it expires (docs/tencent-im.md §7)."""

    def __init__(
        self,
        *,
        sdkappid: int,
        secret_key: str,
        identifier: str,
        expire: int = DEFAULT_EXPIRE_SECONDS,
        refresh_margin: int = DEFAULT_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if expire <= refresh_margin:
            raise ValueError("The UserSig validity must be longer than the refresh margin.")
        self.sdkappid = int(sdkappid)
        self.identifier = identifier
        self.expire = int(expire)
        self.refresh_margin = int(refresh_margin)
        self._secret_key = secret_key
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: str | None = None
        self._cached_until = 0
        self.generated_count = 0

    def __repr__(self) -> str:
        return f"UserSigProvider(sdkappid={self.sdkappid}, identifier={self.identifier!r})"

    def get(self) -> str:
        now = int(self._clock())
        with self._lock:
            if self._cached is None or now >= self._cached_until - self.refresh_margin:
                self._cached = generate_usersig(
                    sdkappid=self.sdkappid, secret_key=self._secret_key,
                    identifier=self.identifier, expire=self.expire, now=now,
                )
                self._cached_until = now + self.expire
                self.generated_count += 1
            return self._cached

    def invalidate(self) -> None:
        """Drop the cached UserSig (after Tencent answers 70001)."""
        with self._lock:
            self._cached = None
