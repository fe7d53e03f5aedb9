"""Who may call what: every endpoint of the projects API, by every kind of caller.

The actors: alice leads the project, bob rates in it, mallory leads another project only, anon is
nobody. `token` is alice calling with an API token instead of a session; `revoked` is alice with a
token she has revoked. The schema and the docs page are public and read no credentials.

How to read a cell: 404 means the project (or the object) does not exist for that caller, which
is what a non-member gets for anything under someone else's project; 403 means they see it but
their role does not allow the action; 401 means no valid credentials; 405 means the endpoint
does not take that method at all (checked after who the caller is, so a rater still gets 403).
Tokens are personal: a token of another user is 404, and a token cannot create tokens (403).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve, reverse
from PIL import Image

from core.jobs.models import JobStatus
from projects.api import urls as api_urls
from projects.models import ImportJob, Membership
from projects.services.images import image_store
from projects.services.tokens import api_token_create, api_token_revoke
from tests.api_clients import secret_client, session_client
from tests.factories import UserFactory, make_items

MATRIX = """
endpoint      method   lead  rater  other  anon  token  revoked
me            GET      200   200    200    401   200    401
projects      GET      200   200    200    401   200    401
projects      POST     201   201    201    401   201    401
project       GET      200   200    404    401   200    401
project       PUT      200   403    404    401   200    401
project       PATCH    200   403    404    401   200    401
project       DELETE   204   403    404    401   204    401
members       GET      200   200    404    401   200    401
members       POST     201   403    404    401   201    401
member        GET      200   200    404    401   200    401
member        PUT      200   403    404    401   200    401
member        PATCH    200   403    404    401   200    401
member        DELETE   204   403    404    401   204    401
labels        GET      200   200    404    401   200    401
labels        POST     201   403    404    401   201    401
labels        PUT      200   403    404    401   200    401
label         GET      200   200    404    401   200    401
label         PUT      200   403    404    401   200    401
label         PATCH    200   403    404    401   200    401
label         DELETE   204   403    404    401   204    401
items         GET      200   200    404    401   200    401
items         POST     405   403    404    401   405    401
item          GET      200   200    404    401   200    401
item          PATCH    200   403    404    401   200    401
item-image    GET      200   200    404    401   200    401
item-thumb    GET      200   200    404    401   200    401
item          PUT      405   403    404    401   405    401
item          DELETE   405   403    404    401   405    401
imports       GET      200   403    404    401   200    401
imports       POST     201   403    404    401   201    401
import        GET      200   403    404    401   200    401
import-retry  POST     200   403    404    401   200    401
tokens        GET      200   200    200    401   200    401
tokens        POST     201   201    201    401   403    401
token         GET      200   404    404    401   200    401
token         DELETE   204   404    404    401   204    401
token-revoke  POST     200   404    404    401   200    401
schema        GET      200   200    200    200   200    200
docs          GET      200   200    200    200   200    200
"""

# endpoint: (URL name, which of the world's ids fill its path)
ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "me": ("api-me", {}),
    "projects": ("api-project-list", {}),
    "project": ("api-project-detail", {"pk": "project"}),
    "members": ("api-member-list", {"project_pk": "project"}),
    "member": ("api-member-detail", {"project_pk": "project", "pk": "member"}),
    "labels": ("api-label-list", {"project_pk": "project"}),
    "label": ("api-label-detail", {"project_pk": "project", "pk": "label"}),
    "items": ("api-item-list", {"project_pk": "project"}),
    "item": ("api-item-detail", {"project_pk": "project", "pk": "item"}),
    "item-image": ("api-item-image", {"project_pk": "project", "pk": "item"}),
    "item-thumb": ("api-item-thumbnail", {"project_pk": "project", "pk": "item"}),
    "imports": ("api-import-list", {"project_pk": "project"}),
    "import": ("api-import-detail", {"project_pk": "project", "pk": "job"}),
    "import-retry": ("api-import-retry", {"project_pk": "project", "pk": "job"}),
    "tokens": ("api-token-list", {}),
    "token": ("api-token-detail", {"pk": "token"}),
    "token-revoke": ("api-token-revoke", {"pk": "token"}),
    "schema": ("api-schema", {}),
    "docs": ("api-docs", {}),
}


def url_of(endpoint: str, world: dict[str, int]) -> str:
    name, kwargs = ROUTES[endpoint]
    return reverse(name, kwargs={arg: world[key] for arg, key in kwargs.items()})


# A valid body for each write, so that a refusal can only come from who is asking.
BODIES: dict[tuple[str, str], Any] = {
    ("projects", "POST"): {"name": "New", "labels": [{"value": "yes"}, {"value": "no"}]},
    ("project", "PUT"): {"name": "Renamed"},
    ("project", "PATCH"): {"raters_per_item": 4},
    ("members", "POST"): {"username": "dave", "role": "rater"},
    ("member", "PUT"): {"role": "lead"},
    ("member", "PATCH"): {"role": "lead"},
    ("labels", "POST"): {"value": "mixed", "hotkey": "4"},
    ("labels", "PUT"): [{"value": "positive", "hotkey": "1"}, {"value": "negative"}],
    ("label", "PUT"): {"display_name": "Meh"},
    ("label", "PATCH"): {"color": "#000000"},
    ("items", "POST"): {"key": "x", "text": "y"},
    ("item", "PATCH"): {"priority": 2.5},
    ("item", "PUT"): {"priority": 2.5},
    ("tokens", "POST"): {"name": "ci"},
}


def _cases() -> list[Any]:
    lines = [line.split() for line in MATRIX.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    actors = header[2:]
    cases = []
    for endpoint, method, *codes in rows:
        assert len(codes) == len(actors), f"row {endpoint} {method} has a missing cell"
        for actor, code in zip(actors, codes, strict=True):
            cases.append(
                pytest.param(endpoint, method, actor, int(code), id=f"{method} {endpoint} {actor}")
            )
    return cases


def test_the_matrix_covers_every_endpoint_and_method_of_the_projects_api():
    rows = {tuple(line.split()[:2]) for line in MATRIX.strip().splitlines()[1:]}
    names = {ROUTES[endpoint][0] for endpoint, _ in rows}
    assert {pattern.name for pattern in api_urls.urlpatterns} <= names
    for endpoint in ROUTES:
        view = resolve(url_of(endpoint, dict.fromkeys(_IDS, 1))).func
        methods = {m.upper() for m in getattr(view, "actions", {"get": "get"})} - {"HEAD"}
        assert methods <= {m for e, m in rows if e == endpoint}, (endpoint, methods)


_IDS = ("project", "member", "label", "item", "job", "token")


@pytest.fixture
def world(project, alice, bob, carol, mallory) -> dict[str, Any]:
    UserFactory(username="dave")
    item = make_items(project, 2)[0]
    item.image = image_store(data=png(), name="red.png")
    item.save(update_fields=["image"])
    job = ImportJob.objects.create(
        project=project, original_name="old.csv", file="imports/old.csv", status=JobStatus.FAILED
    )
    target_token, _ = api_token_create(user=alice, name="target")
    return {
        "project": project.pk,
        "member": Membership.objects.get(project=project, user=carol).pk,
        "label": project.labels.get(value="neutral").pk,
        "item": item.pk,
        "job": job.pk,
        "token": target_token.pk,
    }


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def client_as(actor: str, users: dict[str, Any]) -> Any:
    if actor == "anon":
        return session_client(None)
    if actor in ("token", "revoked"):
        token, secret = api_token_create(user=users["lead"], name=actor)
        if actor == "revoked":
            api_token_revoke(token=token)
        return secret_client(secret)
    return session_client(users[actor])


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "method", "actor", "expected"), _cases())
def test_permission_matrix(
    world: dict[str, int], alice, bob, mallory, endpoint: str, method: str, actor: str,
    expected: int,
) -> None:  # fmt: skip
    client = client_as(actor, {"lead": alice, "rater": bob, "other": mallory})
    url = url_of(endpoint, world)
    if (endpoint, method) == ("imports", "POST"):
        upload = SimpleUploadedFile("more.csv", b"key,text\nz,Fine.\n")
        response = client.post(url, {"file": upload}, format="multipart")
    elif (endpoint, method) in BODIES:
        body = json.dumps(BODIES[endpoint, method])
        response = client.generic(method, url, body, content_type="application/json")
    else:
        response = client.generic(method, url)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert response.json()["error"]["message"]
