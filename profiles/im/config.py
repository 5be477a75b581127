"""Which Tencent endpoint and credentials to use, decided from IM_* variables (docs/tencent-im.md §1 domains).

Django-free so it can be tested alone; improfile_site.settings calls :func:`load_im_config`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# docs/tencent-im.md §1 "Domains by region": (main domain, backup domain).
REGIONS: dict[str, tuple[str, str]] = {
    "chinese-mainland": ("console.tim.qq.com", "adminapi.my-imcloud.com"),
    "singapore": ("adminapisgp.im.qcloud.com", "adminapisgp.my-imcloud.com"),
    "seoul": ("adminapikr.im.qcloud.com", "adminapikr.my-imcloud.com"),
    "tokyo": ("adminapijpn.im.qcloud.com", "adminapijpn.my-imcloud.com"),
    "frankfurt": ("adminapiger.im.qcloud.com", "adminapiger.my-imcloud.com"),
    "mumbai": ("adminapiind.im.qcloud.com", "adminapiind.my-imcloud.com"),
    "silicon-valley": ("adminapiusa.im.qcloud.com", "adminapiusa.my-imcloud.com"),
    "jakarta": ("adminapiidn.im.qcloud.com", "adminapiidn.my-imcloud.com"),
}

# The embedded emulator's identity, used only when no IM_* credential is configured.
EMULATOR_SDKAPPID = 1400000000
EMULATOR_SECRET_KEY = "improfile-emulator-dev-key-not-a-secret"
EMULATOR_DEFAULT_PORT = 8765
# The callback token shared by the web app and the emulator when IM_CALLBACK_TOKEN is unset and the
# emulator is in use (`make run`), so its signed webhooks (docs/tencent-im.md §8) are accepted. Not a secret.
EMULATOR_CALLBACK_TOKEN = "improfile-emulator-callback-token-not-a-secret"


class ConfigError(ValueError):
    """A configuration problem; the message names the variable."""


@dataclass(frozen=True)
class ImConfig:
    api_base: str
    sdkappid: int
    admin_identifier: str
    secret_key: str = field(repr=False)
    usersig_expire: int = 86_400
    read_timeout: float = 5.0
    rate_limit: int = 200
    uses_emulator: bool = False
    region: str = ""


def is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_api_base(url: str) -> str:
    """IM_API_BASE: https for any host, plain http only for loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"IM_API_BASE must be an http(s) URL with a host, got {url!r}.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"IM_API_BASE uses plain http for {parts.hostname!r}; http is allowed only for loopback "
            "hosts (127.0.0.1, ::1, localhost). Use https."
        )
    if parts.query or parts.fragment:
        raise ConfigError("IM_API_BASE must not contain a query string or fragment.")
    return url.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "")
    if raw in ("", None):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    return value


def load_callback_token(env: Mapping[str, str], *, uses_emulator: bool) -> str:
    """IM_CALLBACK_TOKEN for the webhook (docs/tencent-im.md §8); empty means every callback is refused. On the
    built-in emulator it defaults to EMULATOR_CALLBACK_TOKEN, which the emulator signs with too."""
    token = env.get("IM_CALLBACK_TOKEN") or ""
    return token or (EMULATOR_CALLBACK_TOKEN if uses_emulator else "")


def load_im_config(env: Mapping[str, str], *, debug: bool) -> ImConfig:
    """Decide the IM configuration. With no credential at all (and DEBUG on) use the emulator."""
    sdkappid_raw = (env.get("IM_SDKAPPID") or "").strip()
    secret_key = env.get("IM_SECRET_KEY") or ""
    region = (env.get("IM_REGION") or "").strip().lower()
    api_base = (env.get("IM_API_BASE") or "").strip()
    admin = (env.get("IM_ADMIN_IDENTIFIER") or "administrator").strip()
    common = {
        "usersig_expire": _int(env, "IM_USERSIG_EXPIRE", 86_400, minimum=600),
        "read_timeout": float(_int(env, "IM_READ_TIMEOUT", 5, minimum=4)),
        "rate_limit": _int(env, "IM_RATE_LIMIT", 200),
    }
    if not admin:
        raise ConfigError("IM_ADMIN_IDENTIFIER is empty; set it to an app admin account.")

    if not sdkappid_raw and not secret_key and not region:
        if not debug:
            raise ConfigError(
                "IM_SDKAPPID is not set. With DEBUG off, set IM_SDKAPPID, IM_SECRET_KEY and "
                "IM_REGION (or IM_API_BASE)."
            )
        port = _int(env, "IM_EMULATOR_PORT", EMULATOR_DEFAULT_PORT)
        return ImConfig(
            api_base=validate_api_base(api_base or f"http://127.0.0.1:{port}"),
            sdkappid=EMULATOR_SDKAPPID,
            secret_key=EMULATOR_SECRET_KEY,
            admin_identifier=admin,
            uses_emulator=True,
            **common,
        )

    for name, value in (("IM_SDKAPPID", sdkappid_raw), ("IM_SECRET_KEY", secret_key)):
        if not value:
            raise ConfigError(f"{name} is not set; it is required once any IM_* credential is configured.")
    try:
        sdkappid = int(sdkappid_raw)
    except ValueError:
        raise ConfigError(f"IM_SDKAPPID must be a number, got {sdkappid_raw!r}.") from None
    if api_base:
        base = validate_api_base(api_base)
    elif region:
        if region not in REGIONS:
            raise ConfigError(f"IM_REGION {region!r} is not one of: {', '.join(REGIONS)}.")
        base = f"https://{REGIONS[region][0]}"
    else:
        raise ConfigError("IM_REGION is not set; set it (or IM_API_BASE) to reach your app's region.")
    return ImConfig(
        api_base=base, sdkappid=sdkappid, secret_key=secret_key, admin_identifier=admin,
        region=region, **common,
    )
