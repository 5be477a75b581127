"""``GET /healthz``: the installation's health as JSON for load balancers and monitoring, with no
login; 200 when every part is healthy, 503 naming the failing parts (profiles/selectors/health.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..selectors.health import health_status


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    health = health_status()
    return JsonResponse(health.as_dict(), status=200 if health.ok else 503)
