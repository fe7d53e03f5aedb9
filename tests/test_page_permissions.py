"""Who may open which page: every page URL against every actor.

alice leads the project, bob rates in it, mallory leads only a project of her own, and anonymous
is nobody. A rater gets 403 on a lead's page; someone outside the project gets 404, exactly as
for a project that does not exist, so that they cannot learn it exists; anonymous is sent to the
login page.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, resolve, reverse
from PIL import Image

from agreement import urls as agreement_urls
from agreement.models import AgreementRecompute
from core.jobs.models import JobStatus
from exports import urls as exports_urls
from exports.models import DatasetVersion, DeliveryStatus, WebhookDelivery
from exports.services.webhooks import webhook_create
from labeling import urls as labeling_urls
from labeling.models import AnnotationImportJob
from overview import urls as overview_urls
from projects import urls as project_urls
from projects.models import ImportJob, Item, Membership
from projects.services.images import image_store
from projects.services.invitations import invitation_create
from projects.services.tokens import api_token_create, project_token_create

MOVED = "moved"  # done, then sent on to another page (302, not to the login page)
LOGIN = "login"  # 302 to the login page

# fmt: off
#  method  path                                                alice  bob    mallory anonymous
MATRIX = [
    ("GET",  "/",                                              200,   200,   200,    LOGIN),
    ("GET",  "/tokens/",                                       200,   200,   200,    LOGIN),
    ("POST", "/tokens/{token}/revoke/",                        MOVED, 404,   404,    LOGIN),
    ("GET",  "/projects/new/",                                 200,   200,   200,    LOGIN),
    ("POST", "/projects/markdown-preview/",                    200,   200,   200,    LOGIN),
    ("GET",  "/projects/{project}/",                           200,   200,   404,    LOGIN),
    ("GET",  "/projects/{missing}/",                           404,   404,   404,    LOGIN),
    ("GET",  "/projects/{project}/settings/",                  200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/settings/",                  200,   403,   404,    LOGIN),
    ("GET",  "/projects/{missing}/settings/",                  404,   404,   404,    LOGIN),
    ("GET",  "/projects/{project}/members/",                   200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/members/",                   200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/members/{carol}/role/",      MOVED, 403,   404,    LOGIN),
    ("POST", "/projects/{project}/members/{carol}/remove/",    MOVED, 403,   404,    LOGIN),
    ("GET",  "/projects/{project}/items/",                     200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/items/{image_item}/",        200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/items/{missing}/",           404,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/import/",                    200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/imports/{job}/",             200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/imports/{job}/status.json",  200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/imports/{job}/retry/",       MOVED, 403,   404,    LOGIN),
    ("GET",  "/projects/{project}/annotations/import/",        200,   403,   404,    LOGIN),
    # Without a file the form comes back with its error.
    ("POST", "/projects/{project}/annotations/import/",        200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/annotations/imports/{ann_job}/", 200, 403,  404,    LOGIN),
    ("GET",  "/projects/{project}/annotations/imports/{ann_job}/status.json", 200, 403, 404, LOGIN),
    ("POST", "/projects/{project}/annotations/imports/{ann_job}/retry/", MOVED, 403, 404, LOGIN),
    ("GET",  "/items/{image_item}/image/",                     200,   200,   404,    LOGIN),
    ("GET",  "/items/{image_item}/thumbnail/",                 200,   200,   404,    LOGIN),
    ("GET",  "/label/{project}/",                              200,   200,   404,    LOGIN),
    ("GET",  "/projects/{project}/assign/",                    200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/archive/",                   MOVED, 403,   404,    LOGIN),
    ("POST", "/projects/{project}/unarchive/",                 MOVED, 403,   404,    LOGIN),
    ("GET",  "/projects/{project}/tokens/",                    200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/tokens/",                    200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/tokens/{ptoken}/revoke/",    MOVED, 403,   404,    LOGIN),
    ("POST", "/projects/{project}/invitations/",               200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/invitations/{invitation}/revoke/", MOVED, 403, 404, LOGIN),
    # The link is the key: whoever holds it may open it (signed in: join; anonymous: sign up).
    ("GET",  "/invite/{secret}/",                              200,   200,   200,    200),
    # Agreement: a lead's dashboard and scorecards, anyone's own scorecard and the definitions.
    ("GET",  "/agreement/metrics/",                            200,   200,   200,    LOGIN),
    ("GET",  "/projects/{project}/agreement/",                 200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/agreement/raters/",          200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/agreement/me/",              200,   200,   404,    LOGIN),
    ("POST", "/projects/{project}/agreement/recompute/",       MOVED, 403,   404,    LOGIN),
    ("GET",  "/projects/{project}/agreement/recomputes/{recompute}/status.json",
                                                               200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/agreement/recomputes/{recompute}/retry/", MOVED, 403, 404, LOGIN),
    # Datasets: a lead's. Without a spec the form comes back with its errors; a failed build is
    # retried (and moved on to its page).
    ("GET",  "/projects/{project}/datasets/",                  200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/datasets/",                  200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/datasets/{version}/",        200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/datasets/{missing}/",        404,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/datasets/{version}/status.json", 200, 403,  404,    LOGIN),
    ("POST", "/projects/{project}/datasets/{version}/retry/",  MOVED, 403,   404,    LOGIN),
    ("GET",  "/projects/{project}/datasets/diff/",             200,   403,   404,    LOGIN),
    # Webhooks: a lead's. Without a URL the forms come back with their errors.
    ("GET",  "/projects/{project}/webhooks/",                  200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/",                  200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/webhooks/{webhook}/",        200,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/",        200,   403,   404,    LOGIN),
    ("GET",  "/projects/{project}/webhooks/{missing}/",        404,   403,   404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/activate/", MOVED, 403, 404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/deactivate/", MOVED, 403, 404,  LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/ping/",   MOVED, 403,   404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/delete/", MOVED, 403,   404,    LOGIN),
    ("POST", "/projects/{project}/webhooks/{webhook}/deliveries/{delivery}/redeliver/",
                                                               MOVED, 403,   404,    LOGIN),
    ("GET",  "/accounts/password/",                            200,   200,   200,    LOGIN),
    ("GET",  "/accounts/password/done/",                       200,   200,   200,    LOGIN),
]
# fmt: on
ACTORS = ("alice", "bob", "mallory", "anonymous")
NOT_PAGES = {"login", "logout"}  # open to everyone by design


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def world(project, alice, bob, carol, mallory) -> dict[str, Any]:
    """The ids the paths above name, with a project of alice's full of one of everything."""
    blob = image_store(data=png(), name="teal.png")
    image_item = Item.objects.create(
        project=project, key="img", image=blob, content_hash=blob.sha256, shuffle_key=1
    )
    job = ImportJob.objects.create(
        project=project, original_name="bad.csv", status=JobStatus.FAILED, created_by=alice
    )
    ann_job = AnnotationImportJob.objects.create(
        project=project, original_name="crowd.csv", status=JobStatus.FAILED, created_by=alice
    )
    token, _ = api_token_create(user=alice, name="alice's pipeline")
    ptoken, _ = project_token_create(project=project, created_by=alice, name="nightly")
    invitation, secret = invitation_create(project=project, created_by=alice, max_uses=5)
    recompute = AgreementRecompute.objects.create(project=project, status=JobStatus.FAILED)
    webhook, _ = webhook_create(project=project, url="http://127.0.0.1:9/ci", created_by=alice)
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="dataset.version.ready", event_id="dataset.version.ready:1",
        payload={}, status=DeliveryStatus.FAILED, attempts=7,
    )  # fmt: skip
    version = DatasetVersion.objects.create(
        project=project, spec={}, spec_hash="0" * 64, status=JobStatus.FAILED, created_by=alice
    )
    return {
        "users": {"alice": alice, "bob": bob, "mallory": mallory},
        "ids": {
            "project": project.pk,
            "missing": project.pk + 1000,
            "carol": Membership.objects.get(project=project, user=carol).pk,
            "job": job.pk,
            "ann_job": ann_job.pk,
            "image_item": image_item.pk,
            "token": token.pk,
            "ptoken": ptoken.pk,
            "invitation": invitation.pk,
            "secret": secret,
            "recompute": recompute.pk,
            "webhook": webhook.pk,
            "delivery": delivery.pk,
            "version": version.pk,
        },
    }


CASES = [
    pytest.param(method, path, actor, expected, id=f"{method} {path} as {actor}")
    for method, path, *expectations in MATRIX
    for actor, expected in zip(ACTORS, expectations, strict=True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "actor", "expected"), CASES)
def test_page_permission(world, method, path, actor, expected):
    client = Client()
    if actor != "anonymous":
        client.force_login(world["users"][actor])
    url = path.format(**world["ids"])
    response = client.get(url) if method == "GET" else client.post(url, {"role": "rater"})

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")
    elif expected == MOVED:
        assert response.status_code == 302
        assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == expected


def test_the_matrix_covers_every_page():
    """A page added to the urls of any app must get its row above."""
    ids = {"project": 1, "missing": 2, "carol": 3, "job": 4, "image_item": 5, "token": 6,
           "ptoken": 7, "invitation": 8, "secret": "inv_x", "ann_job": 9,
           "recompute": 10, "webhook": 11, "delivery": 12, "version": 13}  # fmt: skip
    covered = {resolve(path.format(**ids)).url_name for _, path, *_ in MATRIX}
    named = {
        pattern.name
        for urls in (overview_urls, labeling_urls, project_urls, agreement_urls, exports_urls)
        for pattern in urls.urlpatterns
        if isinstance(pattern, URLPattern) and pattern.name
    }
    assert named - NOT_PAGES == covered
