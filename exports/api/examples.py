"""Request and response examples of the datasets API's schema (/api/docs/ shows them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

BASE = "https://accord.example.com/api/v1/projects/3/datasets/versions"
SPEC = {
    "sources": ["resolution", "gold", "consensus"], "min_confidence": 0.6, "fields": ["text"],
    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1}, "salt": "accord",
    "freeze_test": True, "formats": ["parquet", "jsonl", "csv"],
}  # fmt: skip
_LINKS = {
    "url": f"{BASE}/41/",
    "manifest_url": f"{BASE}/41/manifest/",
    "files_url": f"{BASE}/41/files/",
}
READY: dict[str, Any] = {
    "id": 41, "project": 3, "number": 3, "label": "v3", "name": "March relabel",
    "note": "After the sarcasm guideline.", "is_ready": True, "outcome": "built", "parent": 37,
    "parent_label": "v2", "spec": SPEC,
    "spec_hash": "9f2c2d4e0b7e8a1f3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3",
    "content_hash": "5be0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8",
    "row_count": 11842, "label_counts": {"negative": 4012, "neutral": 3307, "positive": 4523},
    "split_counts": {"test": 1201, "train": 9461, "validation": 1180}, "created_by": "alice",
    "ready_at": "2026-12-08T09:02:41Z", **_LINKS,
    "status": "succeeded", "phase": "done", "progress": 11842, "total": 11842, "percent": 100,
    "error_count": 0, "errors": [], "message": "11,842 rows in v3.", "attempts": 1,
    "is_finished": True, "is_stalled": False, "created_at": "2026-12-08T09:02:30Z",
    "queued_at": "2026-12-08T09:02:30Z", "started_at": "2026-12-08T09:02:31Z",
    "heartbeat_at": "2026-12-08T09:02:41Z", "finished_at": "2026-12-08T09:02:41Z",
}  # fmt: skip
VALIDATION = {
    "drift_threshold": 0.1, "unit": "item", "rows": 11842, "parent_rows": 11650,
    "schema": {"added": [], "removed": [], "type_changed": [], "changed": False},
    "items": {"added": 204, "removed": 12, "relabeled": 318, "changed": 40, "unchanged": 11280},
    "labels": {
        "parent": {"negative": 3851, "neutral": 3440, "positive": 4359},
        "version": {"negative": 4012, "neutral": 3307, "positive": 4523},
        "appeared": [], "disappeared": [], "total_variation": 0.014913,
        "chi_square": {"statistic": 7.061, "df": 2, "p_value": 0.0293, "cramers_v": 0.0173},
        "drifted": False,
    },
    "splits": [
        {"split": "test", "count": 1201,
         "labels": {"negative": 441, "neutral": 330, "positive": 430},
         "from_whole": {"total_variation": 0.0212, "chi_square": None, "drifted": False},
         "from_parent": {"parent_count": 1188, "total_variation": 0.0099, "chi_square": None,
                         "drifted": False}},
    ],
    "warnings": [],
}  # fmt: skip
RUNNING: dict[str, Any] = {
    **READY, "number": None, "label": "build 42", "id": 42, "name": "", "note": "",
    "is_ready": False, "outcome": "", "parent": None, "parent_label": None,
    "content_hash": "", "row_count": 0, "label_counts": {}, "split_counts": {},
    "ready_at": None, "url": f"{BASE}/42/", "manifest_url": f"{BASE}/42/manifest/",
    "files_url": f"{BASE}/42/files/", "status": "running", "phase": "writing rows",
    "progress": 40000, "total": 118420, "percent": 34, "message": "", "is_finished": False,
    "finished_at": None,
}  # fmt: skip
QUEUED: dict[str, Any] = {
    **RUNNING, "status": "pending", "phase": "", "progress": 0, "total": None, "percent": None,
    "attempts": 0, "started_at": None, "heartbeat_at": None,
}  # fmt: skip

VERSION_LIST = [
    OpenApiExample(
        "Newest first", response_only=True,
        value={"next": None, "previous": None, "results": [RUNNING, READY]},
    ),
]  # fmt: skip
VERSION_DETAIL = [
    OpenApiExample("Ready", value={**READY, "validation": VALIDATION}, response_only=True),
    OpenApiExample("Building", value={**RUNNING, "validation": {}}, response_only=True),
]
VERSION_CREATE = [
    OpenApiExample(
        "Build the labels of record as they are now", request_only=True,
        value={"spec": SPEC, "name": "March relabel", "note": "After the sarcasm guideline."},
    ),
    OpenApiExample(
        "Queued", value={**QUEUED, "validation": {}}, response_only=True, status_codes=["202"]
    ),
]  # fmt: skip
MANIFEST = [
    OpenApiExample(
        "v3", response_only=True,
        value={
            "format": "accord.dataset-version/1", "project": {"id": 3, "name": "Sentiment"},
            "version": {"id": 41, "number": 3, "label": "v3", "name": "March relabel"},
            "parent": {"id": 37, "number": 2, "label": "v2"}, "spec": SPEC,
            "counts": {"rows": 11842}, "validation": VALIDATION,
            "files": [
                {"name": "data.parquet", "kind": "parquet",
                 "content_type": "application/vnd.apache.parquet", "size": 1893113,
                 "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"},
            ],
        },
    ),
]  # fmt: skip
FILES = [
    OpenApiExample(
        "Its files", response_only=True,
        value={"next": None, "previous": None, "results": [
            {"name": "data.parquet", "kind": "parquet",
             "content_type": "application/vnd.apache.parquet", "size": 1893113,
             "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
             "url": f"{BASE}/41/files/data.parquet"},
            {"name": "manifest.json", "kind": "manifest", "content_type": "application/json",
             "size": 6120,
             "sha256": "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
             "url": f"{BASE}/41/files/manifest.json"},
        ]},
    ),
]  # fmt: skip
_DIFF_BASE = "https://accord.example.com/api/v1/projects/3/datasets/diff/?from=v2&to=v3"
DIFF = [
    OpenApiExample(
        "v2 to v3", response_only=True,
        value={
            "from": {"id": 37, "number": 2, "label": "v2"},
            "to": {"id": 41, "number": 3, "label": "v3"},
            "counts": {"added": 204, "removed": 12, "relabeled": 318, "changed": 40,
                       "unchanged": 11280},
            "transitions": [{"source": "neutral", "target": "negative", "count": 171},
                            {"source": "positive", "target": "negative", "count": 90}],
            "split_moves": [],
            "added": {"kind": "added", "count": 204,
                      "next": f"{_DIFF_BASE}&kind=added&cursor=cmV2aWV3LTAxMDA",
                      "results": [{"item_key": "review-12001", "from_label": None,
                                   "to_label": "positive", "from_split": None,
                                   "to_split": "train"}]},
            "removed": {"kind": "removed", "count": 12, "next": None, "results": [
                {"item_key": "review-0007", "from_label": "neutral", "to_label": None,
                 "from_split": "train", "to_split": None}]},
            "relabeled": {"kind": "relabeled", "count": 318, "next": None, "results": [
                {"item_key": "review-0812", "from_label": "neutral", "to_label": "negative",
                 "from_split": "test", "to_split": "test"}]},
            "changed": {"kind": "changed", "count": 40, "next": None, "results": []},
        },
    ),
]  # fmt: skip
DIFF_PAGE = [
    OpenApiExample(
        "kind=relabeled", response_only=True,
        value={"kind": "relabeled", "count": 318, "next": None, "results": [
            {"item_key": "review-0812", "from_label": "neutral", "to_label": "negative",
             "from_split": "test", "to_split": "test"}]},
    ),
]  # fmt: skip
NOT_READY = OpenApiExample(
    "Not ready", response_only=True, status_codes=["409"],
    value={"error": {"code": "version_not_ready",
                     "message": "build 42 is running: it has no manifest or files yet."}},
)  # fmt: skip
