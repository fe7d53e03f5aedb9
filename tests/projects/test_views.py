"""The lead's pages through the Django test client: each renders for the right role, writes go
through the services, and errors reach the page.

alice leads "Sentiment", bob and carol rate in it, mallory leads a project of her own."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from core.jobs.models import JobStatus
from projects.models import (
    ApiToken,
    ImportJob,
    Item,
    ItemStatus,
    Label,
    LabelKind,
    Membership,
    Project,
    Role,
)
from projects.services.images import image_store
from projects.services.tokens import api_token_create
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def project_post(**overrides: Any) -> dict[str, Any]:
    """A valid create/settings form: a single-label project with two labels."""
    data: dict[str, Any] = {
        "name": "Toxicity",
        "description": "Is this comment toxic?",
        "instructions": "Label **toxic** when it insults someone.",
        "content_type": "text",
        "label_kind": "single",
        "rating_min": "",
        "rating_max": "",
        "raters_per_item": "3",
        "lease_minutes": "10",
        "gold_rate": "0.05",
        "labels-TOTAL_FORMS": "2",
        "labels-INITIAL_FORMS": "0",
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "1000",
        "labels-0-display_name": "Toxic",
        "labels-0-value": "toxic",
        "labels-0-color": "#d64545",
        "labels-0-hotkey": "1",
        "labels-1-display_name": "Fine",
        "labels-1-value": "fine",
        "labels-1-color": "#2e9e5b",
        "labels-1-hotkey": "2",
    }
    data.update(overrides)
    return data


def settings_post(project: Project, **overrides: Any) -> dict[str, Any]:
    """The settings form as the page would post it, unchanged, with `overrides` applied."""
    labels = list(project.labels.all())
    data = project_post(
        name=project.name,
        description=project.description,
        instructions=project.instructions,
        content_type=project.content_type,
        label_kind=project.label_kind,
        raters_per_item=str(project.raters_per_item),
        lease_minutes=str(project.lease_minutes),
        gold_rate=str(project.gold_rate),
    )
    for key in [k for k in data if k.startswith("labels-")]:
        del data[key]
    data.update({"labels-TOTAL_FORMS": str(len(labels)), "labels-INITIAL_FORMS": str(len(labels))})
    for n, label in enumerate(labels):
        data.update(
            {
                f"labels-{n}-display_name": label.display_name,
                f"labels-{n}-value": label.value,
                f"labels-{n}-color": label.color,
                f"labels-{n}-hotkey": label.hotkey,
            }
        )
    data.update(overrides)
    return data


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


# --- home --------------------------------------------------------------------------------------


def test_home_shows_my_projects_with_counts_and_role(project, alice, bob, mallory):
    make_items(project, 3)
    Item.objects.filter(key="item-0").update(status=ItemStatus.LABELED)

    page = client_for(alice).get(reverse("home")).content.decode()
    assert "Sentiment" in page and "Mallory&#x27;s own project" not in page
    assert "Lead" in page and "Labeled <b>1</b>" in page and "Open <b>2</b>" in page
    assert reverse("project-new") in page

    rater_page = client_for(bob).get(reverse("home")).content.decode()
    assert "Sentiment" in rater_page and "Rater" in rater_page
    assert "you labeled 0" in rater_page
    assert reverse("project-settings", args=[project.pk]) not in rater_page


def test_home_without_projects_invites_to_start_one(db):
    newcomer = UserFactory(username="newcomer")
    page = client_for(newcomer).get(reverse("home")).content.decode()
    assert "No projects yet" in page and reverse("project-new") in page


def test_home_queries_do_not_grow_with_projects(alice, django_assert_max_num_queries):
    for n in range(6):
        make_items(make_project(lead=alice, name=f"P{n}"), 2, prefix=f"p{n}")
    client = client_for(alice)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("home")).status_code == 200


# --- create and edit ---------------------------------------------------------------------------


def test_create_project_through_the_form(alice):
    response = client_for(alice).post(reverse("project-new"), project_post())
    project = Project.objects.get(name="Toxicity")
    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", args=[project.pk])
    assert project.created_by == alice and project.gold_rate == 0.05
    assert Membership.objects.get(project=project, user=alice).role == Role.LEAD
    assert [(lb.value, lb.display_name, lb.color, lb.hotkey) for lb in project.labels.all()] == [
        ("toxic", "Toxic", "#d64545", "1"),
        ("fine", "Fine", "#2e9e5b", "2"),
    ]


def test_create_ignores_blank_and_removed_label_rows(alice):
    data = project_post(
        **{
            "labels-TOTAL_FORMS": "4",
            "labels-2-color": "#4f6bed",  # a blank row, as the page renders it
            "labels-3-value": "dropped",
            "labels-3-display_name": "Dropped",
            "labels-3-DELETE": "on",
        }
    )
    client_for(alice).post(reverse("project-new"), data)
    project = Project.objects.get(name="Toxicity")
    assert list(project.labels.values_list("value", flat=True)) == ["toxic", "fine"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels-1-hotkey": "1"}, "“1” is used by 2 labels."),
        ({"labels-1-hotkey": "s"}, "“s” is reserved: s skips, u goes back, i shows instructions."),
        ({"labels-1-value": "toxic"}, "“toxic” is used by 2 labels."),
        ({"labels-1-value": "not ok!"}, "Use letters, digits"),
        ({"labels-1-display_name": "No value", "labels-1-value": ""}, "A label needs a value."),
        ({"label_kind": "rating", "rating_min": "5", "rating_max": "1"}, "Must be greater than"),
        ({"label_kind": "rating", "rating_min": ""}, "A rating scale needs a lowest rating."),
        ({"raters_per_item": "0"}, "greater than or equal to 1"),
        ({"gold_rate": "1.5"}, "less than or equal to 1"),
        ({"name": ""}, "This field is required."),
    ],
)
def test_create_shows_errors_and_saves_nothing(alice, overrides, message):
    response = client_for(alice).post(reverse("project-new"), project_post(**overrides))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved." in page
    assert message in page
    assert not Project.objects.filter(name="Toxicity").exists()


def test_create_refuses_a_label_project_without_labels(alice):
    data = project_post(**{"labels-TOTAL_FORMS": "0"})
    page = client_for(alice).post(reverse("project-new"), data).content.decode()
    assert "needs at least one label" in page
    assert not Project.objects.exists()


def test_create_a_rating_project_needs_no_labels(alice):
    data = project_post(
        label_kind="rating", rating_min="1", rating_max="7", **{"labels-TOTAL_FORMS": "0"}
    )
    client_for(alice).post(reverse("project-new"), data)
    project = Project.objects.get(name="Toxicity")
    assert (project.label_kind, project.rating_min, project.rating_max) == ("rating", 1, 7)


def test_settings_page_is_prefilled(project, alice):
    page = client_for(alice).get(reverse("project-settings", args=[project.pk])).content.decode()
    assert 'value="Sentiment"' in page
    assert 'value="positive"' in page and 'value="#2e9e5b"' in page
    # An existing label's value is stored in annotations: the editor does not let it change.
    assert 'name="labels-0-value" value="positive"' in page and "disabled" in page


def test_settings_update_settings_and_labels_together(project, alice):
    positive_id = project.labels.get(value="positive").pk
    data = settings_post(
        project,
        name="Sentiment v2",
        instructions="# New rules",
        raters_per_item="2",
        **{
            "labels-TOTAL_FORMS": "4",
            "labels-1-DELETE": "on",  # negative
            "labels-0-hotkey": "p",
            "labels-3-display_name": "Mixed",
            "labels-3-value": "mixed",
            "labels-3-color": "#8e59c9",
            "labels-3-hotkey": "m",
        },
    )
    response = client_for(alice).post(reverse("project-settings", args=[project.pk]), data)
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.instructions, project.raters_per_item) == (
        "Sentiment v2",
        "# New rules",
        2,
    )
    labels = list(project.labels.values_list("value", "hotkey"))
    assert labels == [("positive", "p"), ("neutral", "3"), ("mixed", "m")]
    assert project.labels.get(value="positive").pk == positive_id  # the same row, kept


def test_settings_ignore_a_posted_change_of_an_existing_value(project, alice):
    data = settings_post(project, **{"labels-0-value": "renamed"})
    client_for(alice).post(reverse("project-settings", args=[project.pk]), data)
    assert project.labels.filter(value="positive").exists()
    assert not project.labels.filter(value="renamed").exists()


def test_settings_error_keeps_everything_as_it_was(project, alice):
    data = settings_post(project, name="Renamed", **{"labels-2-hotkey": "1"})
    response = client_for(alice).post(reverse("project-settings", args=[project.pk]), data)
    assert "“1” is used by 2 labels." in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Sentiment"
    assert project.labels.get(value="neutral").hotkey == "3"


def test_content_type_is_fixed_once_there_are_items(project, alice):
    make_items(project, 1)
    data = settings_post(project, content_type="image")
    client_for(alice).post(reverse("project-settings", args=[project.pk]), data)
    project.refresh_from_db()
    assert project.content_type == "text"


# --- instructions are sanitized ----------------------------------------------------------------

XSS = (
    "Hello <script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    "[click](javascript:alert(2))\n\n"
    '<a href="#" onclick="alert(3)">a</a>'
)


def test_instructions_with_script_are_rendered_safely_for_lead_and_rater(project, alice, bob):
    Project.objects.filter(pk=project.pk).update(instructions=XSS)
    for user in (alice, bob):
        page = client_for(user).get(reverse("project-detail", args=[project.pk])).content.decode()
        assert "Hello" in page
        for bad in ("<script>alert", "onerror", "javascript:", "onclick"):
            assert bad not in page


def test_markdown_preview_renders_and_sanitizes(alice):
    response = client_for(alice).post(reverse("markdown-preview"), {"source": "**bold**\n\n" + XSS})
    html = response.json()["html"]
    assert "<strong>bold</strong>" in html
    for bad in ("<script", "onerror", "javascript:", "onclick"):
        assert bad not in html


# --- the dashboard -----------------------------------------------------------------------------


def test_lead_dashboard_shows_stats_labels_instructions_and_imports(project, alice):
    make_items(project, 4)
    Project.objects.filter(pk=project.pk).update(instructions="Be *kind*.")
    ImportJob.objects.create(
        project=project, original_name="reviews.csv", status=JobStatus.SUCCEEDED, created_count=4
    )
    page = client_for(alice).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "<em>kind</em>" in page
    assert "Positive" in page and "<kbd" in page and "#2e9e5b" in page
    assert "reviews.csv" in page and "Succeeded" in page
    assert reverse("project-items", args=[project.pk]) in page
    assert "1 lead, 2 raters" in page


def test_rater_dashboard_shows_instructions_and_own_counts_only(project, bob):
    Project.objects.filter(pk=project.pk).update(instructions="Be *kind*.")
    ImportJob.objects.create(project=project, original_name="secret-source.csv")
    page = client_for(bob).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "<em>kind</em>" in page and "Your work" in page and "labeled by you" in page
    assert "secret-source.csv" not in page
    assert reverse("project-settings", args=[project.pk]) not in page
    assert reverse("project-items", args=[project.pk]) not in page


def test_dashboard_for_an_empty_project_points_to_import(project, alice):
    page = client_for(alice).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "No items yet." in page and "Recent imports" not in page


# --- members -----------------------------------------------------------------------------------


def test_members_page_lists_members(project, alice):
    page = client_for(alice).get(reverse("project-members", args=[project.pk])).content.decode()
    for name in ("alice", "bob", "carol"):
        assert name in page


def test_add_member_by_username(project, alice):
    dave = UserFactory(username="dave")
    url = reverse("project-members", args=[project.pk])
    response = client_for(alice).post(url, {"username": "dave", "role": "rater"}, follow=True)
    assert Membership.objects.get(project=project, user=dave).role == Role.RATER
    assert "dave joined as a rater." in response.content.decode()


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("nobody", "There is no user named “nobody”."),
        ("bob", "bob is already a rater here"),
        ("", "This field is required."),
    ],
)
def test_add_member_errors_are_shown(project, alice, username, message):
    url = reverse("project-members", args=[project.pk])
    response = client_for(alice).post(url, {"username": username, "role": "rater"})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_change_a_members_role(project, alice, bob):
    membership = Membership.objects.get(project=project, user=bob)
    url = reverse("project-member-role", args=[project.pk, membership.pk])
    response = client_for(alice).post(url, {"role": "lead"}, follow=True)
    assert "bob is now a lead." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.LEAD


def test_the_last_lead_cannot_step_down_or_leave(project, alice):
    membership = Membership.objects.get(project=project, user=alice)
    client = client_for(alice)
    for url, data in (
        (reverse("project-member-role", args=[project.pk, membership.pk]), {"role": "rater"}),
        (reverse("project-member-remove", args=[project.pk, membership.pk]), {}),
    ):
        response = client.post(url, data, follow=True)
        assert "A project keeps at least one lead." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.LEAD


def test_remove_a_member(project, alice, carol):
    membership = Membership.objects.get(project=project, user=carol)
    url = reverse("project-member-remove", args=[project.pk, membership.pk])
    response = client_for(alice).post(url, follow=True)
    assert "carol was removed from the project." in response.content.decode()
    assert not Membership.objects.filter(project=project, user=carol).exists()


def test_a_membership_of_another_project_is_not_found(project, alice, mallory):
    theirs = Membership.objects.get(user=mallory)
    url = reverse("project-member-remove", args=[project.pk, theirs.pk])
    assert client_for(alice).post(url).status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


# --- items -------------------------------------------------------------------------------------


def test_items_are_paged_by_id(project, alice, django_assert_max_num_queries):
    make_items(project, 120)
    client = client_for(alice)
    url = reverse("project-items", args=[project.pk])
    with django_assert_max_num_queries(10):
        first = client.get(url)
    assert first.context["total"] == 120
    keys = [item.key for item in first.context["items"]]
    assert keys[0] == "item-0" and len(keys) == 50
    assert first.context["previous_before"] is None

    second = client.get(url, {"after": first.context["next_after"]})
    assert next(i.key for i in second.context["items"]) == "item-50"
    third = client.get(url, {"after": second.context["next_after"]})
    assert len(third.context["items"]) == 20 and third.context["next_after"] is None

    back = client.get(url, {"before": third.context["previous_before"]})
    assert [i.key for i in back.context["items"]] == [i.key for i in second.context["items"]]


def test_items_filter_by_status_and_key(project, alice):
    make_items(project, 30)
    Item.objects.filter(key__in=["item-3", "item-4"]).update(status=ItemStatus.CONFLICT)
    client = client_for(alice)
    url = reverse("project-items", args=[project.pk])
    conflicts = client.get(url, {"status": "conflict"})
    assert [i.key for i in conflicts.context["items"]] == ["item-3", "item-4"]
    by_key = client.get(url, {"q": "item-2"})
    assert {i.key for i in by_key.context["items"]} == {
        "item-2",
        *(f"item-2{n}" for n in range(10)),
    }
    nothing = client.get(url, {"q": "zzz"})
    assert "No items match" in nothing.content.decode()


def test_items_page_truncates_long_text(project, alice):
    item = make_items(project, 1)[0]
    Item.objects.filter(pk=item.pk).update(text="word " * 2000)
    page = client_for(alice).get(reverse("project-items", args=[project.pk])).content.decode()
    assert page.count("word") < 100


def test_items_empty_state(project, alice):
    page = client_for(alice).get(reverse("project-items", args=[project.pk])).content.decode()
    assert "No items yet" in page and reverse("project-import", args=[project.pk]) in page


def make_image_item(project: Project) -> Item:
    blob = image_store(data=png_bytes(), name="red.png")
    return Item.objects.create(
        project=project, key="img-1", image=blob, content_hash=blob.sha256, shuffle_key=1
    )


def test_item_image_and_thumbnail_stream_to_members(project, alice, bob):
    item = make_image_item(project)
    for user in (alice, bob):
        response = client_for(user).get(reverse("item-image", args=[item.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == png_bytes()
        thumb = client_for(user).get(reverse("item-thumbnail", args=[item.pk]))
        assert thumb.status_code == 200 and thumb["Content-Type"].startswith("image/")


def test_item_image_is_cached_by_content_hash(project, alice):
    item = make_image_item(project)
    client = client_for(alice)
    first = client.get(reverse("item-image", args=[item.pk]))
    again = client.get(reverse("item-image", args=[item.pk]), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_item_image_of_a_text_item_is_not_found(project, alice):
    item = make_items(project, 1)[0]
    assert client_for(alice).get(reverse("item-image", args=[item.pk])).status_code == 404


# --- imports -----------------------------------------------------------------------------------


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a request enqueued after its commit (the import task, in-process here): the
    test's transaction never commits, so the callbacks are run when the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def upload(client: Client, project: Project, content: bytes, name: str = "reviews.csv") -> Any:
    return client.post(
        reverse("project-import", args=[project.pk]),
        {"file": SimpleUploadedFile(name, content), "format": "auto"},
    )


def test_import_page_describes_the_formats_the_project_takes(project, alice):
    client = client_for(alice)
    page = client.get(reverse("project-import", args=[project.pk])).content.decode()
    for words in ("<code>text</code>", "<code>key</code>", "<code>gold</code>", "JSON Lines"):
        assert words in page
    assert 'value="zip"' not in page  # a text project is not offered the ZIP format

    images = make_project(lead=alice, name="Digits", content_type="image")
    page = client.get(reverse("project-import", args=[images.pk])).content.decode()
    assert "manifest.csv" in page and 'value="zip"' in page and 'value="csv"' not in page


def test_upload_a_csv_creates_a_job_and_shows_its_page(project, alice, run_on_commit):
    client = client_for(alice)
    with run_on_commit():
        response = upload(client, project, b"key,text\nr1,Great\nr2,Bad\n")
    job = ImportJob.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("import-job", args=[project.pk, job.pk])
    job.refresh_from_db()
    assert (job.source, job.created_by, job.original_name) == ("ui", alice, "reviews.csv")
    assert job.status == JobStatus.SUCCEEDED  # tasks run in-process without REDIS_URL
    assert set(project.items.values_list("key", flat=True)) == {"r1", "r2"}

    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "View items" in page

    state = client.get(reverse("import-job-status", args=[project.pk, job.pk])).json()
    assert state["status"] == "succeeded" and state["finished"] is True
    assert state["counts"]["created_count"] == 2 and state["percent"] == 100


def test_a_rejected_file_shows_its_errors_and_can_be_retried(project, alice, run_on_commit):
    client = client_for(alice)
    with run_on_commit():
        upload(client, project, b"key,text,gold\nr1,Great,positive\nr2,Bad,maybe\n")
    job = ImportJob.objects.get(project=project)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    page = client.get(reverse("import-job", args=[project.pk, job.pk])).content.decode()
    assert "Problems in the file" in page and "maybe" in page and "<code>gold</code>" in page
    assert "Retry import" in page
    assert not project.items.exists()

    with run_on_commit():
        response = client.post(reverse("import-job-retry", args=[project.pk, job.pk]), follow=True)
    assert "The import was started again." in response.content.decode()
    assert ImportJob.objects.get(pk=job.pk).attempts == 2


def test_upload_refused_before_a_job_shows_the_reason(project, alice):
    client = client_for(alice)
    response = upload(client, project, b"", name="empty.csv")
    assert "The submitted file is empty." in response.content.decode()
    response = upload(client, project, b"PK\x03\x04zip", name="images.zip")
    assert "This project labels text, and a ZIP holds images" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_retrying_a_succeeded_job_explains_why_not(project, alice, run_on_commit):
    client = client_for(alice)
    with run_on_commit():
        upload(client, project, b"key,text\nr1,Great\n")
    job = ImportJob.objects.get(project=project)
    response = client.post(reverse("import-job-retry", args=[project.pk, job.pk]), follow=True)
    assert "only a failed import" in response.content.decode()


def test_a_job_of_another_project_is_not_found(project, alice, mallory):
    theirs = ImportJob.objects.create(project=Project.objects.get(name="Mallory's own project"))
    url = reverse("import-job", args=[project.pk, theirs.pk])
    assert client_for(alice).get(url).status_code == 404


# --- API tokens --------------------------------------------------------------------------------


def test_create_a_token_shows_its_secret_once(alice):
    client = client_for(alice)
    response = client.post(reverse("tokens"), {"name": "nightly export"}, follow=True)
    token = ApiToken.objects.get(user=alice)
    page = response.content.decode()
    secret = response.context["new_token"]["secret"]
    assert secret.startswith(token.prefix) and secret in page
    assert "Copy it now." in page and response["Cache-Control"] == "no-store"
    again = client.get(reverse("tokens")).content.decode()
    assert secret not in again and "nightly export" in again and token.prefix in again


def test_create_a_token_needs_a_name(alice):
    response = client_for(alice).post(reverse("tokens"), {"name": "  "})
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_a_token(alice):
    token, _ = api_token_create(user=alice, name="old pipeline")
    response = client_for(alice).post(reverse("token-revoke", args=[token.pk]), follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    page = response.content.decode()
    assert "was revoked" in page and "Revoked" in page


def test_tokens_are_private_to_their_owner(alice, bob):
    token, _ = api_token_create(user=alice, name="alice's pipeline")
    assert "alice&#x27;s pipeline" not in client_for(bob).get(reverse("tokens")).content.decode()
    assert client_for(bob).post(reverse("token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_labels_are_untouched_by_a_reading_of_the_settings(project, alice):
    before = list(Label.objects.values_list("pk", "value", "hotkey"))
    client_for(alice).get(reverse("project-settings", args=[project.pk]))
    assert list(Label.objects.values_list("pk", "value", "hotkey")) == before


def test_a_multi_label_project_can_be_created(alice):
    client_for(alice).post(reverse("project-new"), project_post(label_kind=LabelKind.MULTI))
    assert Project.objects.get(name="Toxicity").label_kind == LabelKind.MULTI


def test_the_settings_show_only_what_works_and_name_what_is_planned(project, alice):
    """Weak labels are not built: their settings are not offered (a post of them changes
    nothing), and the page says they are planned. The agreement rule is offered and kept."""
    page = client_for(alice).get(reverse("project-settings", args=[project.pk])).content.decode()
    assert "Planned" in page and "Weak labels" in page
    assert 'name="agreement_rule"' in page and 'name="agreement_threshold"' in page
    for planned in ("weak_label", "weak_labels_"):
        assert f'name="{planned}' not in page
    response = client_for(alice).post(
        reverse("project-settings", args=[project.pk]),
        settings_post(
            project, agreement_rule="unanimous", agreement_threshold="0.8",
            weak_labels_prefill="on",
        ),
    )  # fmt: skip
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.agreement_rule, project.agreement_threshold) == ("unanimous", 0.8)
    assert project.weak_labels_prefill is False
