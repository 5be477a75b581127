"""The client's address for the login lockout: the connection's own, unless the operator names the header a
trusted reverse proxy sets (``LOGIN_CLIENT_IP_HEADER``, ``LOGIN_TRUSTED_PROXIES``)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def client_ip_address(request: HttpRequest) -> str | None:
    """The address django-axes counts failures for.

    Each trusted proxy appends the address it received the request from, so with N proxies the client
    is the N-th entry from the right; whatever the client wrote itself stands further left and is never
    read. A request with too few entries (one that did not pass through every proxy) or an entry that is
    not an address falls back to the connection's address, which the client cannot choose.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    header = settings.LOGIN_CLIENT_IP_HEADER
    if not header:
        return remote
    entries = [entry.strip() for entry in request.META.get(_meta_key(header), "").split(",") if entry.strip()]
    if len(entries) < settings.LOGIN_TRUSTED_PROXIES:
        return remote
    try:
        return str(ipaddress.ip_address(entries[-settings.LOGIN_TRUSTED_PROXIES]))
    except ValueError:
        return remote
