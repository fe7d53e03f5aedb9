"""Request and response examples of the webhooks API's schema (/api/docs/ shows them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

_BASE = "https://accord.example.com/api/v1/projects/3/datasets/versions/41"
WEBHOOK: dict[str, Any] = {
    "id": 7, "url": "https://ci.example.com/hooks/accord", "events": ["dataset.version.ready"],
    "is_active": True, "created_at": "2026-12-08T09:12:44Z", "created_by": "alice",
    "last_delivery": {
        "id": 120, "event": "dataset.version.ready", "status": "delivered",
        "created_at": "2026-12-09T02:00:13Z",
    },
}  # fmt: skip
PAYLOAD: dict[str, Any] = {
    "event": "dataset.version.ready",
    "event_id": "dataset.version.ready:41",
    "created_at": "2026-12-09T02:00:13Z",
    "project": {"id": 3, "name": "Product reviews"},
    "version": {
        "id": 41, "number": 5, "label": "v5", "name": "December", "row_count": 48211,
        "content_hash": "9c1f...e2", "spec_hash": "51aa...07", "parent": 4,
        "ready_at": "2026-12-09T02:00:12Z", "url": f"{_BASE}/",
        "manifest_url": f"{_BASE}/manifest/",
        "files": [
            {"name": "data.parquet", "kind": "parquet", "size": 5210044, "sha256": "4e07...9b",
             "url": f"{_BASE}/files/data.parquet"},
            {"name": "manifest.json", "kind": "manifest", "size": 4120, "sha256": "0b9d...1c",
             "url": f"{_BASE}/files/manifest.json"},
        ],
        "media_files": 0,
    },
}  # fmt: skip
DELIVERY: dict[str, Any] = {
    "id": 120, "webhook": 7, "event": "dataset.version.ready",
    "event_id": "dataset.version.ready:41", "redelivery": None, "status": "delivered",
    "attempts": 2, "max_attempts": 7, "next_attempt_at": None,
    "created_at": "2026-12-09T02:00:13Z", "delivered_at": "2026-12-09T02:00:24Z",
    "attempt_log": [
        {"attempt": 1, "at": "2026-12-09T02:00:13Z", "status_code": 503,
         "error": "The receiver answered 503 Service Unavailable.", "seconds": 0.041,
         "response": "upstream busy"},
        {"attempt": 2, "at": "2026-12-09T02:00:24Z", "status_code": 200, "error": "",
         "seconds": 0.087, "response": "{\"ok\": true}"},
    ],
    "payload": PAYLOAD,
}  # fmt: skip
PING: dict[str, Any] = {
    **DELIVERY, "id": 121, "event": "ping", "event_id": "ping:5b0d1c7e9f2a4c55a1d3e0b6c8f7a912",
    "status": "pending", "attempts": 0, "max_attempts": 1, "delivered_at": None,
    "attempt_log": [],
    "payload": {
        "event": "ping", "event_id": "ping:5b0d1c7e9f2a4c55a1d3e0b6c8f7a912",
        "created_at": "2026-12-09T08:30:00Z", "project": {"id": 3, "name": "Product reviews"},
        "webhook": {"id": 7, "url": "https://ci.example.com/hooks/accord",
                    "events": ["dataset.version.ready"]},
    },
}  # fmt: skip
REDELIVERY: dict[str, Any] = {
    **DELIVERY, "id": 122, "event_id": "dataset.version.ready:41:redelivery:1", "redelivery": 1,
    "status": "pending", "attempts": 0, "delivered_at": None, "attempt_log": [],
}  # fmt: skip


def _error(code: str, message: str, **fields: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


_BAD_URL = "Give an http:// or https:// URL, e.g. https://ci.example.com/accord-hook."
WEBHOOK_LIST = [OpenApiExample("A webhook", value=WEBHOOK, response_only=True)]
WEBHOOK_CREATE = [
    OpenApiExample(
        "Register",
        value={"url": "https://ci.example.com/hooks/accord", "events": ["dataset.version.ready"]},
        request_only=True,
    ),
    OpenApiExample(
        "Registered: the secret, shown this once",
        value={**WEBHOOK, "last_delivery": None,
               "secret": "whsec_3vN8q0d7Qm1bZf5K2xWc9Lr4Tg6Yh8Pj0sA2uE4iO6k"},
        response_only=True, status_codes=["201"],
    ),
    OpenApiExample(
        "Not an http(s) URL",
        value=_error("invalid", f"url: {_BAD_URL}", url=[_BAD_URL]),
        response_only=True, status_codes=["400"],
    ),
    OpenApiExample(
        "An archived project",
        value=_error("project_archived",
                     "“Product reviews” is archived and read-only; a lead can unarchive it."),
        response_only=True, status_codes=["409"],
    ),
]  # fmt: skip
WEBHOOK_DETAIL = [OpenApiExample("A webhook", value=WEBHOOK, response_only=True)]
WEBHOOK_UPDATE = [
    OpenApiExample("Deactivate", value={"is_active": False}, request_only=True),
    OpenApiExample(
        "Move it", value={"url": "https://ci.example.com/hooks/accord-v2"}, request_only=True
    ),
    OpenApiExample("Deactivated", value={**WEBHOOK, "is_active": False}, response_only=True),
]
DELIVERIES = [OpenApiExample("Delivered at the second attempt", value=DELIVERY, response_only=True)]
PING_SENT = [OpenApiExample("Queued", value=PING, response_only=True, status_codes=["202"])]
REDELIVER = [
    OpenApiExample("Queued", value=REDELIVERY, response_only=True, status_codes=["202"]),
    OpenApiExample(
        "Still being delivered",
        value=_error(
            "conflict",
            "Delivery 120 is still being delivered (attempt 3 of 7 so far); redeliver it once "
            "it has finished.",
        ),
        response_only=True,
        status_codes=["409"],
    ),
]
