"""Who may call what: every route of /api/v1/ (projects, labeling, agreement, webhooks and
datasets), by every kind of caller.

The actors: alice leads the project, bob rates in it, mallory leads another project only, anon
is nobody. `token` is alice calling with her personal API token instead of a session; `revoked`
is alice with a token she has revoked. `ptoken` is a project token of alice's project (a
pipeline's, with the default scopes), `ptoken_other` one of mallory's project. The schema and
the docs page are public and read no credentials.

How to read a cell: 404 means the project (or the object) does not exist for that caller, which
is what a non-member gets for anything under someone else's project, and what a project token
gets on a route it may use but in another project; 403 means they see it but may not do this
(a rater writing, or a project token anywhere its scopes do not reach: every write, every other
route, whatever the project); 401 means no valid credentials; 405 means the endpoint does not
take that method at all (checked after who the caller is, so a rater still gets 403). Personal
tokens are private: another user's is 404, and no token can create tokens or invitation links.

A route added under /api/v1/ fails `test_the_matrix_covers_every_route_of_the_api` until it has
its rows here.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from PIL import Image

from agreement.models import AgreementRecompute, Conflict
from agreement.services.conflicts import conflict_resolve
from core.jobs.models import JobStatus
from exports.models import DeliveryStatus, WebhookDelivery
from exports.services.webhooks import webhook_create
from labeling.assignment import item_claim
from labeling.members import membership_set
from labeling.models import AnnotationImportJob
from labeling.services import annotation_submit
from projects.models import ImportJob, Item, Membership, Project, Role
from projects.services.images import image_store
from projects.services.invitations import invitation_create
from projects.services.tokens import api_token_create, api_token_revoke, project_token_create
from tests.api_clients import secret_client, session_client
from tests.exports.factories import SPEC, make_build, make_version, row
from tests.factories import UserFactory, make_items

MATRIX = """
endpoint          method  lead  rater  other  anon  token  revoked  ptoken  ptoken_other
me                GET     200   200    200    401   200    401      403     403
projects          GET     200   200    200    401   200    401      403     403
projects          POST    201   201    201    401   201    401      403     403
project           GET     200   200    404    401   200    401      403     403
project           PUT     200   403    404    401   200    401      403     403
project           PATCH   200   403    404    401   200    401      403     403
project           DELETE  204   403    404    401   204    401      403     403
project-archive   POST    200   403    404    401   200    401      403     403
project-unarchive POST    200   403    404    401   200    401      403     403
members           GET     200   200    404    401   200    401      403     403
members           POST    201   403    404    401   201    401      403     403
member            GET     200   200    404    401   200    401      403     403
member            PUT     200   403    404    401   200    401      403     403
member            PATCH   200   403    404    401   200    401      403     403
member            DELETE  204   403    404    401   204    401      403     403
labels            GET     200   200    404    401   200    401      200     404
labels            POST    201   403    404    401   201    401      403     403
labels            PUT     200   403    404    401   200    401      403     403
label             GET     200   200    404    401   200    401      200     404
label             PUT     200   403    404    401   200    401      403     403
label             PATCH   200   403    404    401   200    401      403     403
label             DELETE  204   403    404    401   204    401      403     403
items             GET     200   200    404    401   200    401      200     404
items             POST    405   403    404    401   405    401      403     403
item              GET     200   200    404    401   200    401      200     404
item              PATCH   200   403    404    401   200    401      403     403
item              PUT     405   403    404    401   405    401      403     403
item              DELETE  405   403    404    401   405    401      403     403
item-image        GET     200   200    404    401   200    401      200     404
item-thumb        GET     200   200    404    401   200    401      200     404
imports           GET     200   403    404    401   200    401      403     403
imports           POST    201   403    404    401   201    401      403     403
import            GET     200   403    404    401   200    401      403     403
import-retry      POST    200   403    404    401   200    401      403     403
project-tokens    GET     200   403    404    401   200    401      403     403
project-tokens    POST    201   403    404    401   403    401      403     403
project-token     GET     200   403    404    401   200    401      403     403
project-token     DELETE  204   403    404    401   204    401      403     403
invitations       GET     200   403    404    401   200    401      403     403
invitations       POST    201   403    404    401   403    401      403     403
invitation        GET     200   403    404    401   200    401      403     403
invitation        DELETE  204   403    404    401   204    401      403     403
agreement         GET     200   403    404    401   200    401      403     403
agreement-raters  GET     200   200    404    401   200    401      403     403
recomputes        POST    202   403    404    401   202    401      403     403
recompute         GET     200   403    404    401   200    401      403     403
recompute-retry   POST    200   403    404    401   200    401      403     403
claim             POST    200   200    404    401   200    401      403     403
progress          GET     200   200    404    401   200    401      403     403
history           GET     200   200    404    401   200    401      403     403
submit            POST    201   201    404    401   201    401      403     403
skip              POST    200   200    404    401   200    401      403     403
renew             POST    200   200    404    401   200    401      403     403
assign            POST    200   403    404    401   200    401      403     403
conflicts         GET     200   403    404    401   200    401      403     403
conflict          GET     200   403    404    401   200    401      403     403
conflict-resolve  POST    200   403    404    401   200    401      403     403
conflict-reopen   POST    200   403    404    401   200    401      403     403
annotations       GET     200   403    404    401   200    401      200     404
item-agreements   GET     200   403    404    401   200    401      200     404
ann-imports       GET     200   403    404    401   200    401      403     403
ann-imports       POST    202   403    404    401   202    401      403     403
ann-import        GET     200   403    404    401   200    401      403     403
ann-import-retry  POST    200   403    404    401   200    401      403     403
webhooks          GET     200   403    404    401   200    401      403     403
webhooks          POST    201   403    404    401   201    401      403     403
webhook           GET     200   403    404    401   200    401      403     403
webhook           PATCH   200   403    404    401   200    401      403     403
webhook           DELETE  204   403    404    401   204    401      403     403
webhook-ping      POST    202   403    404    401   202    401      403     403
deliveries        GET     200   403    404    401   200    401      403     403
delivery          GET     200   403    404    401   200    401      403     403
redeliver         POST    202   403    404    401   202    401      403     403
dataset-versions  GET     200   403    404    401   200    401      200     404
dataset-versions  POST    202   403    404    401   202    401      403     403
dataset-version   GET     200   403    404    401   200    401      200     404
dataset-manifest  GET     200   403    404    401   200    401      200     404
dataset-files     GET     200   403    404    401   200    401      200     404
dataset-file      GET     200   403    404    401   200    401      200     404
dataset-retry     POST    200   403    404    401   200    401      403     403
dataset-diff      GET     200   403    404    401   200    401      200     404
tokens            GET     200   200    200    401   200    401      403     403
tokens            POST    201   201    201    401   403    401      403     403
token             GET     200   404    404    401   200    401      403     403
token             DELETE  204   404    404    401   204    401      403     403
token-revoke      POST    200   404    404    401   200    401      403     403
schema            GET     200   200    200    200   200    200      200     200
docs              GET     200   200    200    200   200    200      200     200
"""

P, ITEM = {"project_pk": "project"}, {"project_pk": "project", "item_pk": "held"}
# endpoint: (URL name, which of the world's ids fill its path)
ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "me": ("api-me", {}),
    "projects": ("api-project-list", {}),
    "project": ("api-project-detail", {"pk": "project"}),
    "project-archive": ("api-project-archive", {"pk": "project"}),
    "project-unarchive": ("api-project-unarchive", {"pk": "project"}),
    "members": ("api-member-list", P),
    "member": ("api-member-detail", {**P, "pk": "member"}),
    "labels": ("api-label-list", P),
    "label": ("api-label-detail", {**P, "pk": "label"}),
    "items": ("api-item-list", P),
    "item": ("api-item-detail", {**P, "pk": "item"}),
    "item-image": ("api-item-image", {**P, "pk": "item"}),
    "item-thumb": ("api-item-thumbnail", {**P, "pk": "item"}),
    "imports": ("api-import-list", P),
    "import": ("api-import-detail", {**P, "pk": "job"}),
    "import-retry": ("api-import-retry", {**P, "pk": "job"}),
    "project-tokens": ("api-project-token-list", P),
    "project-token": ("api-project-token-detail", {**P, "pk": "ptoken"}),
    "invitations": ("api-invitation-list", P),
    "invitation": ("api-invitation-detail", {**P, "pk": "invitation"}),
    "agreement": ("api-agreement", P),
    "agreement-raters": ("api-agreement-raters", P),
    "recomputes": ("api-agreement-recompute-list", P),
    "recompute": ("api-agreement-recompute-detail", {**P, "pk": "recompute"}),
    "recompute-retry": ("api-agreement-recompute-retry", {**P, "pk": "recompute"}),
    "claim": ("api-labeling-claim", P),
    "progress": ("api-labeling-progress", P),
    "history": ("api-labeling-history", P),
    "submit": ("api-labeling-submit", ITEM),
    "skip": ("api-labeling-skip", ITEM),
    "renew": ("api-labeling-renew", ITEM),
    "assign": ("api-labeling-assign", P),
    "conflicts": ("api-conflict-list", P),
    "conflict": ("api-conflict-detail", {**P, "conflict_id": "conflict"}),
    "conflict-resolve": ("api-conflict-resolve", {**P, "conflict_id": "conflict"}),
    "conflict-reopen": ("api-conflict-reopen", {**P, "conflict_id": "resolved"}),
    "annotations": ("api-annotation-list", P),
    "item-agreements": ("api-item-agreement-list", P),
    "ann-imports": ("api-annotation-import-list", P),
    "ann-import": ("api-annotation-import-detail", {**P, "pk": "ann_job"}),
    "ann-import-retry": ("api-annotation-import-retry", {**P, "pk": "ann_job"}),
    "webhooks": ("api-webhook-list", P),
    "webhook": ("api-webhook-detail", {**P, "pk": "webhook"}),
    "webhook-ping": ("api-webhook-ping", {**P, "pk": "webhook"}),
    "deliveries": ("api-webhook-delivery-list", {**P, "webhook_pk": "webhook"}),
    "delivery": ("api-webhook-delivery-detail", {**P, "webhook_pk": "webhook", "pk": "delivery"}),
    "redeliver": (
        "api-webhook-delivery-redeliver",
        {**P, "webhook_pk": "webhook", "pk": "delivery"},
    ),
    "dataset-versions": ("api-dataset-version-list", P),
    "dataset-version": ("api-dataset-version-detail", {**P, "version": "version"}),
    "dataset-manifest": ("api-dataset-version-manifest", {**P, "version": "version"}),
    "dataset-files": ("api-dataset-version-files", {**P, "version": "version"}),
    "dataset-file": ("api-dataset-file", {**P, "version": "version", "name": "file_name"}),
    "dataset-retry": ("api-dataset-version-retry", {**P, "version": "failed_version"}),
    "dataset-diff": ("api-dataset-diff", P),
    "tokens": ("api-token-list", {}),
    "token": ("api-token-detail", {"pk": "token"}),
    "token-revoke": ("api-token-revoke", {"pk": "token"}),
    "schema": ("api-schema", {}),
    "docs": ("api-docs", {}),
}
_IDS = ("project", "member", "label", "item", "held", "job", "token", "ptoken", "invitation",
        "conflict", "resolved", "ann_job")  # fmt: skip


def url_of(endpoint: str, world: dict[str, Any]) -> str:
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
    ("project-tokens", "POST"): {"name": "nightly"},
    ("invitations", "POST"): {"role": "rater", "max_uses": 3},
    ("claim", "POST"): {"hold": 1},
    ("submit", "POST"): {"value": "positive", "client_id": "6f1c1f4e-6d0c-4c37-9d5e-2b7a8f0e9a11"},
    ("skip", "POST"): {"reason": "unsure"},
    ("assign", "POST"): {"rater": "carol", "item_keys": ["item-1"]},
    ("conflict-resolve", "POST"): {"action": "label", "value": "negative", "note": "sarcasm"},
    ("conflict-reopen", "POST"): {"note": "new guidelines"},
    ("tokens", "POST"): {"name": "ci"},
    ("webhooks", "POST"): {"url": "http://127.0.0.1:9/pipeline"},
    ("webhook", "PATCH"): {"is_active": False},
    ("dataset-versions", "POST"): {"spec": SPEC, "name": "nightly"},
}


# The agreement figures' routes name a recompute (a failed one, so that it can be retried).
_IDS += ("recompute",)
# The webhooks' routes name a webhook and a delivery of it (failed, so that it can be redelivered).
_IDS += ("webhook", "delivery")
# The datasets' routes name a ready version, one of its files, and a failed build to retry.
_IDS += ("version", "failed_version", "file_name")
# Query strings a route needs to answer at all (the two versions of a diff).
QUERIES = {"dataset-diff": "?from=v1&to=latest"}


def _rows() -> list[list[str]]:
    return [line.split() for line in MATRIX.strip().splitlines()]


def _cases() -> list[Any]:
    header, *rows = _rows()
    actors = header[2:]
    cases = []
    for endpoint, method, *codes in rows:
        assert len(codes) == len(actors), f"row {endpoint} {method} has a missing cell"
        for actor, code in zip(actors, codes, strict=True):
            cases.append(
                pytest.param(endpoint, method, actor, int(code), id=f"{method} {endpoint} {actor}")
            )
    return cases


# --- the matrix covers every route -------------------------------------------------------------


def _methods(callback: Any) -> set[str]:
    """The HTTP methods a route's view answers (HEAD and OPTIONS come with GET and with DRF)."""
    if getattr(callback, "actions", None):
        methods = set(callback.actions)
    else:
        view = callback.view_class
        methods = {m for m in view.http_method_names if hasattr(view, m)}
    return {m.upper() for m in methods} - {"HEAD", "OPTIONS"}


def api_routes() -> dict[str, set[str]]:
    """Every route the URL resolver has under /api/v1/, by name, with its methods."""
    found: dict[str, set[str]] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                assert pattern.name, f"/{route} has no name, so the matrix cannot name it"
                found[pattern.name] = _methods(pattern.callback)

    walk(get_resolver().url_patterns, "")
    return found


def test_the_matrix_covers_every_route_of_the_api():
    rows = {(endpoint, method) for endpoint, method, *_ in _rows()[1:]}
    routes = api_routes()
    in_matrix = {ROUTES[endpoint][0] for endpoint, _ in rows} - {"api-schema", "api-docs"}
    assert set(routes) == in_matrix, "a route of /api/v1/ without rows here, or a stale row"
    assert len(routes) >= 30
    by_name = {name: endpoint for endpoint, (name, _) in ROUTES.items()}
    for name, methods in routes.items():
        endpoint = by_name[name]
        assert methods <= {m for e, m in rows if e == endpoint}, (endpoint, methods)
        # And the path resolves to that route with the world's kind of ids.
        assert resolve(url_of(endpoint, dict.fromkeys(_IDS, 1))).url_name == name


# --- the world and the callers -----------------------------------------------------------------


@pytest.fixture
def world(project, alice, bob, carol, mallory) -> dict[str, Any]:
    UserFactory(username="dave")
    item = make_items(project, 2)[0]
    item.image = image_store(data=png(), name="red.png")
    item.save(update_fields=["image"])
    job = ImportJob.objects.create(
        project=project, original_name="old.csv", file="imports/old.csv", status=JobStatus.FAILED
    )
    ann_job = AnnotationImportJob.objects.create(
        project=project, original_name="crowd.csv", file="annotation-imports/crowd.csv",
        status=JobStatus.FAILED,
    )  # fmt: skip
    # bob and then alice hold the same item (most-started first), so either can label it.
    held = item_claim(project=project, rater=bob)[0].item.pk
    assert item_claim(project=project, rater=alice)[0].item.pk == held
    target_token, _ = api_token_create(user=alice, name="target")
    recompute = AgreementRecompute.objects.create(project=project, status=JobStatus.FAILED)
    ptoken, _ = project_token_create(project=project, created_by=alice, name="target")
    invitation, _ = invitation_create(project=project, created_by=alice)
    webhook, _ = webhook_create(project=project, url="http://127.0.0.1:9/ci", created_by=alice)
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="dataset.version.ready", event_id="dataset.version.ready:1",
        payload={}, status=DeliveryStatus.FAILED, attempts=7,
    )  # fmt: skip
    version = make_version(project, [row("item-0", "positive"), row("item-1", "negative")])
    failed_build = make_build(project, status=JobStatus.FAILED)
    return {
        "version": version.pk,
        "failed_version": failed_build.pk,
        "file_name": "data.parquet",
        "project": project.pk,
        "member": Membership.objects.get(project=project, user=carol).pk,
        "label": project.labels.get(value="neutral").pk,
        "item": item.pk,
        "held": held,
        "job": job.pk,
        "token": target_token.pk,
        "recompute": recompute.pk,
        "ptoken": ptoken.pk,
        "invitation": invitation.pk,
        "ann_job": ann_job.pk,
        "webhook": webhook.pk,
        "delivery": delivery.pk,
    }


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# The conflict routes need conflicts, and conflicts need labels, which the rest of the world must
# not have (a project with annotations is archived, not deleted): they are added for those rows.
NEEDS_CONFLICTS = {"conflict", "conflict-resolve", "conflict-reopen"}


def with_conflicts(
    world: dict[str, Any], project: Project, alice: Any, carol: Any
) -> dict[str, Any]:
    """carol and erin split on two items served before the others (so that nobody else's hold
    changes): two open conflicts, of which alice resolves the second."""
    erin = UserFactory(username="erin")
    membership_set(project=project, user=erin, role=Role.RATER)
    split = make_items(project, 2, prefix="split")
    Item.objects.filter(pk__in=[item.pk for item in split]).update(priority=10)
    for rater, value in ((carol, "positive"), (erin, "negative")):
        for hold in item_claim(project=project, rater=rater, hold=2):
            assert hold.item.key.startswith("split-")
            annotation_submit(project=project, item_id=hold.item.pk, rater=rater, value=value,
                              client_id=uuid.uuid4())  # fmt: skip
    first, second = (Conflict.objects.get(item=item) for item in split)
    conflict_resolve(conflict=second, lead=alice, value="positive")
    return {**world, "conflict": first.pk, "resolved": second.pk}


def client_as(actor: str, users: dict[str, Any], project: Project) -> Any:
    if actor == "anon":
        return session_client(None)
    if actor in ("token", "revoked"):
        token, secret = api_token_create(user=users["lead"], name=actor)
        if actor == "revoked":
            api_token_revoke(token=token)
        return secret_client(secret)
    if actor == "ptoken":
        return secret_client(project_token_create(project=project, created_by=users["lead"],
                                                  name="pipeline")[1])  # fmt: skip
    if actor == "ptoken_other":
        theirs = Project.objects.get(name="Mallory's own project")
        return secret_client(project_token_create(project=theirs, created_by=users["other"],
                                                  name="theirs")[1])  # fmt: skip
    return session_client(users[actor])


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "method", "actor", "expected"), _cases())
def test_permission_matrix(
    world: dict[str, Any], project, alice, bob, carol, mallory, endpoint: str, method: str,
    actor: str, expected: int,
) -> None:  # fmt: skip
    client = client_as(actor, {"lead": alice, "rater": bob, "other": mallory}, project)
    if endpoint in NEEDS_CONFLICTS:
        world = with_conflicts(world, project, alice, carol)
    url = url_of(endpoint, world) + QUERIES.get(endpoint, "")
    if (endpoint, method) == ("imports", "POST"):
        upload = SimpleUploadedFile("more.csv", b"key,text\nz,Fine.\n")
        response = client.post(url, {"file": upload}, format="multipart")
    elif (endpoint, method) == ("ann-imports", "POST"):
        upload = SimpleUploadedFile("crowd.csv", b"item_key,rater,value\nitem-1,w-7,positive\n")
        response = client.post(url, {"file": upload}, format="multipart")
    elif (endpoint, method) in BODIES:
        body = dict(BODIES[endpoint, method]) if endpoint == "submit" else BODIES[endpoint, method]
        if endpoint == "submit":
            body["client_id"] = str(uuid.uuid4())
        response = client.generic(method, url, json.dumps(body), content_type="application/json")
    else:
        response = client.generic(method, url)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert response.json()["error"]["message"]
