"""Request and response examples of the agreement API's schema (/api/docs/ shows them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

_ITEM = {"id": 812, "key": "review-0812"}
_CONSENSUS_TIE = {
    "value": None,
    "confidence": 0.3333333333333333,
    "method": "majority",
    "tie": True,
}
_ANNOTATIONS = [
    {
        "id": 4021, "rater": "bob", "is_external": False, "value": "positive", "revision": 1,
        "time_spent_ms": 5400, "created_at": "2026-03-02T10:14:03Z",
        "updated_at": "2026-03-02T10:14:03Z",
    },
    {
        "id": 4033, "rater": "carol", "is_external": False, "value": "negative", "revision": 2,
        "time_spent_ms": 8100, "created_at": "2026-03-02T10:20:41Z",
        "updated_at": "2026-03-02T11:02:10Z",
    },
    {
        "id": 4090, "rater": "worker A17", "is_external": True, "value": "neutral",
        "revision": 1, "time_spent_ms": 0, "created_at": "2026-03-02T12:00:00Z",
        "updated_at": "2026-03-02T12:00:00Z",
    },
]  # fmt: skip
CONFLICT: dict[str, Any] = {
    "id": 57, "item": _ITEM, "status": "open", "observed": 0.0,
    "label_pair": "negative | positive", "times_opened": 1, "opened_at": "2026-03-02T12:00:00Z",
    "closed_at": None, "consensus": _CONSENSUS_TIE, "label_of_record": None,
}  # fmt: skip
CONFLICT_DETAIL: dict[str, Any] = {
    **CONFLICT,
    "annotations": _ANNOTATIONS,
    "resolutions": [],
    "history": [
        {
            "kind": "conflict", "actor": None,
            "message": "Became a conflict after imported labels: a tie (positive 33%, "
            "negative 33%, neutral 33%).",
            "created_at": "2026-03-02T12:00:00Z",
        }
    ],
}  # fmt: skip
_RESOLVED = {
    **CONFLICT_DETAIL,
    "status": "resolved",
    "closed_at": "2026-03-03T09:30:12Z",
    "label_of_record": {
        "value": "negative", "source": "resolution", "method": "lead", "confidence": None
    },
    "resolutions": [
        {
            "id": 9, "action": "resolve", "lead": "alice", "value_before": None,
            "value_after": "negative", "status_before": "open", "status_after": "resolved",
            "note": "Sarcasm: the praise is ironic.", "created_at": "2026-03-03T09:30:12Z",
        }
    ],
    "history": [
        *CONFLICT_DETAIL["history"],
        {
            "kind": "resolution", "actor": "alice",
            "message": "alice chose 'negative' as the final label. Note: Sarcasm: the praise "
            "is ironic.",
            "created_at": "2026-03-03T09:30:12Z",
        },
    ],
    "next": {"id": 61, "url": "/api/v1/projects/3/conflicts/61/"},
}  # fmt: skip

CONFLICT_LIST = [OpenApiExample("An open conflict", value=CONFLICT, response_only=True)]
CONFLICT_DETAIL_EXAMPLES = [
    OpenApiExample("An open conflict", value=CONFLICT_DETAIL, response_only=True)
]
RESOLVE = [
    OpenApiExample(
        "Choose the final label",
        value={"action": "label", "value": "negative", "note": "Sarcasm: the praise is ironic."},
        request_only=True,
    ),
    OpenApiExample(
        "Ask for one more rater",
        value={"action": "more_raters", "note": "Needs a tie-breaker."},
        request_only=True,
    ),
    OpenApiExample(
        "Mark ambiguous",
        value={"action": "ambiguous", "note": "Both readings hold."},
        request_only=True,
    ),
    OpenApiExample("Resolved, and the next open conflict", value=_RESOLVED, response_only=True),
    OpenApiExample(
        "Already resolved",
        value={
            "error": {
                "code": "conflict",
                "message": "This conflict is resolved by a lead: it cannot be resolved now. "
                "Reload it to see its current state.",
            }
        },
        response_only=True,
        status_codes=["409"],
    ),
    OpenApiExample(
        "Not a label of the project",
        value={
            "error": {
                "code": "invalid",
                "message": "value: value 'joyful' is not a label of this project; use one of "
                "['negative', 'neutral', 'positive'].",
                "fields": {
                    "value": [
                        "value 'joyful' is not a label of this project; use one of "
                        "['negative', 'neutral', 'positive']."
                    ]
                },
            }
        },
        response_only=True,
        status_codes=["400"],
    ),
]
REOPEN = [
    OpenApiExample("Reopen", value={"note": "New guidelines on sarcasm."}, request_only=True),
    OpenApiExample(
        "Open again",
        value={**CONFLICT_DETAIL, "times_opened": 2},
        response_only=True,
    ),
]
ANNOTATIONS = [
    OpenApiExample(
        "An annotation, with include=revisions",
        value={
            **_ANNOTATIONS[1], "item": _ITEM,
            "revisions": [
                {"revision": 1, "value": "positive", "created_at": "2026-03-02T10:20:41Z"},
                {"revision": 2, "value": "negative", "created_at": "2026-03-02T11:02:10Z"},
            ],
        },
        response_only=True,
    )
]  # fmt: skip
ITEM_AGREEMENTS = [
    OpenApiExample(
        "An agreed item",
        value={
            "item": {"id": 813, "key": "review-0813", "status": "agreed"},
            "n_annotations": 3, "observed": 0.3333333333333333, "consensus": "positive",
            "method": "majority", "confidence": 0.6666666666666666, "tie": False,
            "passes": True, "label_pair": "negative | positive",
            "evaluated_at": "2026-03-02T12:05:40Z",
            "label_of_record": {
                "value": "positive", "source": "consensus", "method": "majority",
                "confidence": 0.6666666666666666,
            },
        },
        response_only=True,
    )
]  # fmt: skip
