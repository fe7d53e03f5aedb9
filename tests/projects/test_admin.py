"""The Django admin, scoped by project: alice (staff) leads `project`, mallory (staff) leads her
own, bob rates in alice's. Superusers see everything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from labeling.assignment import item_claim
from labeling.models import Annotation, Assignment
from labeling.services import annotation_submit
from projects.models import ImportJob, Item, Label, Membership, Project, Role
from projects.services.tokens import api_token_create
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(alice, mallory, bob) -> None:
    for user in (alice, mallory, bob):
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@pytest.fixture
def world(project, mallory, bob, staff) -> dict[str, Any]:
    """Each project with items, an import job, a lease and an annotation."""
    theirs = Project.objects.get(name="Mallory's own project")
    for p, prefix in ((project, "ours"), (theirs, "theirs")):
        make_items(p, 2, prefix=prefix)
        ImportJob.objects.create(project=p, original_name=f"{prefix}.csv", file=f"{prefix}.csv")
    membership_for_bob = Membership.objects.create(project=theirs, user=bob, role=Role.RATER)
    for p in (project, theirs):
        hold = item_claim(project=p, rater=bob)[0]
        annotation_submit(
            project=p, item_id=hold.item.pk, rater=bob, value="positive", client_id=uuid.uuid4()
        )
        item_claim(project=p, rater=bob)
    membership_for_bob.delete()
    return {"ours": project, "theirs": theirs}


def admin_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


CHANGELISTS = ["projects/project", "projects/item", "projects/membership", "projects/label",
               "projects/importjob", "labeling/assignment", "labeling/annotation"]  # fmt: skip


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_a_lead_sees_only_their_projects_rows(world, alice, changelist):
    response = admin_for(alice).get(f"/admin/{changelist}/")
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown, "alice's own rows are listed"
    project_ids = {obj.pk if isinstance(obj, Project) else obj.project_id for obj in shown}
    assert project_ids == {world["ours"].pk}
    assert b"Mallory" not in response.content  # not even in the project filter


def test_a_lead_cannot_open_another_projects_objects(world, alice):
    theirs = world["theirs"]
    api = admin_for(alice)
    urls = [
        f"/admin/projects/project/{theirs.pk}/change/",
        f"/admin/projects/project/{theirs.pk}/delete/",
        f"/admin/projects/project/{theirs.pk}/history/",
        f"/admin/projects/item/{theirs.items.first().pk}/change/",
        f"/admin/projects/label/{theirs.labels.first().pk}/change/",
        f"/admin/projects/membership/{theirs.memberships.first().pk}/change/",
        f"/admin/projects/importjob/{theirs.import_jobs.first().pk}/change/",
        f"/admin/labeling/annotation/{Annotation.objects.get(project=theirs).pk}/change/",
        f"/admin/labeling/assignment/{Assignment.objects.filter(project=theirs)[0].pk}/change/",
    ]
    for url in urls:
        response = api.get(url)
        # Django's admin answers an object outside the queryset with a redirect to the index.
        assert response.status_code in (302, 403, 404), url
        assert response.status_code != 302 or response["Location"] == "/admin/", url
    response = api.post(f"/admin/projects/project/{theirs.pk}/delete/", {"post": "yes"})
    assert Project.objects.filter(pk=theirs.pk).exists()


def test_staff_who_lead_nothing_see_nothing(world, bob):
    response = admin_for(bob).get("/admin/")
    assert response.status_code == 200
    assert response.context["app_list"] == []
    assert admin_for(bob).get("/admin/projects/project/").status_code == 403
    nobody = UserFactory(username="nobody")
    assert admin_for(nobody).get("/admin/").status_code == 302  # not staff: the login page


def test_a_superuser_sees_everything(world):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    response = admin_for(root).get("/admin/projects/item/")
    assert len(response.context["cl"].result_list) == 4
    response = admin_for(root).get("/admin/projects/apitoken/")
    assert response.status_code == 200


def test_api_tokens_are_for_superusers_and_never_show_the_hash(alice, staff):
    token, secret = api_token_create(user=alice, name="nightly")
    assert admin_for(alice).get("/admin/projects/apitoken/").status_code == 403
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = admin_for(root).get(f"/admin/projects/apitoken/{token.pk}/change/")
    assert page.status_code == 200 and b"nightly" in page.content
    assert token.key_hash.encode() not in page.content and secret.encode() not in page.content
    admin_for(root).post(
        "/admin/projects/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_leads_project_choices_are_their_projects(world, alice):
    response = admin_for(alice).get("/admin/projects/membership/add/")
    choices = {str(p) for p in response.context["adminform"].form.fields["project"].queryset}
    assert choices == {world["ours"].name}
    theirs = world["theirs"]
    dave = UserFactory(username="dave")
    response = admin_for(alice).post(
        "/admin/projects/membership/add/",
        {"project": theirs.pk, "user": dave.pk, "role": "rater"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert not Membership.objects.filter(user=dave).exists()


# --- editing a project through the admin -------------------------------------------------------


def project_form(project: Project, *, labels: list[dict[str, Any]] | None = None,
                 members: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """The POST body of the project change page, with its two inline formsets."""
    data: dict[str, Any] = {}
    for name in ("name", "description", "instructions", "content_type", "label_kind",
                 "rating_min", "rating_max", "raters_per_item", "agreement_rule",
                 "agreement_threshold", "lease_minutes", "gold_rate",
                 "weak_label_threshold"):  # fmt: skip
        value = getattr(project, name)
        data[name] = "" if value is None else value
    if labels is None:
        labels = [
            {"id": lb.pk, "position": lb.position, "value": lb.value,
             "display_name": lb.display_name, "color": lb.color, "hotkey": lb.hotkey}
            for lb in project.labels.all()
        ]  # fmt: skip
    if members is None:
        members = [
            {"id": m.pk, "user": m.user_id, "role": m.role} for m in project.memberships.all()
        ]
    saved = project.pk is not None
    for prefix, rows, initial in (
        ("labels", labels, project.labels.count() if saved else 0),
        ("memberships", members, project.memberships.count() if saved else 0),
    ):
        data[f"{prefix}-TOTAL_FORMS"] = len(rows)
        data[f"{prefix}-INITIAL_FORMS"] = initial
        data[f"{prefix}-MIN_NUM_FORMS"] = 0
        data[f"{prefix}-MAX_NUM_FORMS"] = 1000
        for index, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{index}-{key}"] = value
            data[f"{prefix}-{index}-project"] = project.pk or ""
    return data


def test_a_lead_swaps_two_hotkeys_and_adds_a_label_in_one_save(project, alice, staff):
    change_url = f"/admin/projects/project/{project.pk}/change/"
    page = admin_for(alice).get(change_url)
    assert page.status_code == 200
    assert b"labels-TOTAL_FORMS" in page.content and b"memberships-TOTAL_FORMS" in page.content
    labels = [
        {"id": lb.pk, "position": lb.position, "value": lb.value, "display_name": lb.display_name,
         "color": lb.color, "hotkey": {"1": "2", "2": "1"}.get(lb.hotkey, lb.hotkey)}
        for lb in project.labels.all()
    ] + [{"position": 9, "value": "mixed", "display_name": "Mixed", "color": "#000000",
          "hotkey": "m"}]  # fmt: skip
    data = project_form(project, labels=labels)
    data["name"] = "Sentiment v2"
    response = admin_for(alice).post(change_url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    project.refresh_from_db()
    assert project.name == "Sentiment v2"
    assert list(project.labels.values_list("value", "hotkey")) == [
        ("positive", "2"), ("negative", "1"), ("neutral", "3"), ("mixed", "m"),
    ]  # fmt: skip


def test_the_admin_shows_schema_and_lead_rules_as_errors(project, alice, staff):
    change_url = f"/admin/projects/project/{project.pk}/change/"
    labels = [{"id": lb.pk, "position": lb.position, "value": lb.value,
               "display_name": lb.display_name, "color": lb.color,
               "hotkey": "s" if lb.value == "neutral" else lb.hotkey}
              for lb in project.labels.all()]  # fmt: skip
    response = admin_for(alice).post(change_url, project_form(project, labels=labels))
    assert response.status_code == 200
    assert "hotkey &#x27;s&#x27; is reserved" in response.content.decode()
    members = [{"id": m.pk, "user": m.user_id, "role": "rater"}
               for m in project.memberships.all()]  # fmt: skip
    response = admin_for(alice).post(change_url, project_form(project, members=members))
    assert response.status_code == 200
    assert "A project keeps at least one lead." in response.content.decode()
    assert Membership.objects.filter(project=project, role=Role.LEAD).count() == 1
    assert Label.objects.get(project=project, value="neutral").hotkey == "3"


def test_a_staff_lead_adds_a_project_and_leads_it(project, alice, staff):
    spam_label = {"position": 0, "value": "spam", "display_name": "Spam", "color": "#ff0000",
                  "hotkey": "1"}  # fmt: skip
    data = project_form(Project(name="Spam", raters_per_item=1), labels=[spam_label], members=[])
    response = admin_for(alice).post("/admin/projects/project/add/", data)
    assert response.status_code == 302
    spam = Project.objects.get(name="Spam")
    assert spam.created_by == alice
    assert list(spam.memberships.values_list("user__username", "role")) == [("alice", "lead")]
    assert list(spam.labels.values_list("value", flat=True)) == ["spam"]


def test_a_lead_sets_a_gold_answer_checked_against_the_schema(project, alice, staff):
    item = make_items(project, 1)[0]
    url = f"/admin/projects/item/{item.pk}/change/"
    response = admin_for(alice).post(url, {"priority": 1, "is_gold": "on", "gold_value": '"nope"'})
    assert response.status_code == 200 and "is not a label" in response.content.decode()
    response = admin_for(alice).post(
        url, {"priority": 2, "is_gold": "on", "gold_value": '"negative"'}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.priority, item.is_gold, item.gold_value) == (2.0, True, "negative")


def test_a_lead_deletes_their_project_nobody_labeled_in_with_everything_in_it(world, alice, bob):
    draft = make_project(lead=alice, raters=[bob], name="Draft")
    make_items(draft, 3)
    item_claim(project=draft, rater=bob)  # a lease is not a label
    url = f"/admin/projects/project/{draft.pk}/delete/"
    assert admin_for(alice).get(url).status_code == 200
    response = admin_for(alice).post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=draft.pk).exists()
    assert not Item.objects.filter(project_id=draft.pk).exists()
    assert Item.objects.filter(project=world["theirs"]).count() == 2


def test_the_admin_keeps_a_projects_last_lead(world, alice, project):
    from projects.models import Membership, Role

    lead = Membership.objects.get(project=project, user=alice)
    client = admin_for(alice)
    response = client.post(
        f"/admin/projects/membership/{lead.pk}/change/",
        {"project": project.pk, "user": alice.pk, "role": Role.RATER},
    )
    assert response.status_code == 200
    assert "A project keeps at least one lead." in response.content.decode()
    lead.refresh_from_db()
    assert lead.role == Role.LEAD
    deleted = client.post(f"/admin/projects/membership/{lead.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    assert Membership.objects.filter(pk=lead.pk).exists()
