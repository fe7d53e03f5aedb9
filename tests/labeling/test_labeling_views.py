"""The labeling page and the assign page, through Django's test client.

alice leads the project, bob and carol rate in it, mallory belongs to another project only.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from labeling.assignment import item_claim
from labeling.lead_assignment import items_assign
from labeling.models import Assignment, AssignmentStatus
from labeling.services import annotation_submit
from labeling.views.label import label_buttons
from projects.models import Label, LabelKind
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

EVIL_INSTRUCTIONS = """# How to label

Say **positive** when the customer is happy.

<script>alert("owned")</script>
<img src="x" onerror="alert('owned')">
[a trap](javascript:alert('owned'))
"""


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="lab-config" type="application/json">') + len(
        '<script id="lab-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_bob_gets_the_labeling_page_with_hotkeys_and_safe_instructions(project, bob):
    project.instructions = EVIL_INSTRUCTIONS
    project.save(update_fields=["instructions"])
    response = client_for(bob).get(reverse("label", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert project.name in html
    for value, name, hotkey in [("positive", "Positive", "1"), ("negative", "Negative", "2")]:
        assert f'data-value="{value}" data-hotkey="{hotkey}"' in html
        assert name in html
    assert "<strong>positive</strong>" in html, "the instructions are rendered Markdown"
    assert "<script>alert" not in html and "onerror" not in html and "javascript:" not in html
    assert "js/labeling/main.js" in html and "css/labeling.css" in html
    config = page_config(response)
    assert config["kind"] == "single" and config["canLabel"] is True
    assert config["apiBase"] == f"/api/v1/projects/{project.pk}/labeling/"
    assert [label["hotkey"] for label in config["labels"]] == ["1", "2", "3"]


def test_the_page_never_embeds_a_label_of_another_rater(project, bob, carol):
    (item,) = make_items(project, 1)
    item_claim(project=project, rater=bob)
    annotation_submit(
        project=item.project, item_id=item.pk, rater=bob, value="negative", client_id="0" * 32
    )
    html = client_for(carol).get(reverse("label", args=[project.pk])).content.decode()
    assert 'aria-pressed="true"' not in html
    assert item.key not in html, "items come from the API, never in the page"


def test_labels_without_hotkeys_get_free_keys_and_never_a_reserved_one(alice):
    specs = [
        {"value": "cat", "display_name": "Cat", "hotkey": "1"},
        {"value": "dog", "display_name": "Dog", "hotkey": ""},
        {"value": "bird", "display_name": "Bird", "hotkey": "2"},
        *[{"value": f"l{n}", "display_name": f"L{n}", "hotkey": ""} for n in range(10)],
    ]
    project = make_project(lead=alice, labels=specs)
    keys = [b.hotkey for b in label_buttons(list(Label.objects.filter(project=project)))]
    assert keys[:3] == ["1", "3", "2"]
    assert len(set(keys)) == len(keys)
    assert not {"s", "u", "i", "0"} & set(keys)


def test_a_rating_project_shows_a_scale(alice, bob):
    project = make_project(
        lead=alice, raters=[bob], label_kind=LabelKind.RATING, rating_min=1, rating_max=5
    )
    html = client_for(bob).get(reverse("label", args=[project.pk])).content.decode()
    assert html.count('class="lab-label lab-rate"') == 5
    assert 'aria-label="Rating from 1 to 5"' in html


def test_mallory_gets_404_and_anonymous_is_sent_to_log_in(project, mallory):
    assert client_for(mallory).get(reverse("label", args=[project.pk])).status_code == 404
    assert client_for(mallory).get(reverse("label", args=[99999])).status_code == 404
    response = Client().get(reverse("label", args=[project.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_project_card_offers_to_start_labeling(project, bob, alice):
    label_url = reverse("label", args=[project.pk])
    assign_url = reverse("assign", args=[project.pk])
    html = client_for(bob).get(reverse("home")).content.decode()
    assert f'href="{label_url}"' in html and "Start labeling" in html
    assert assign_url not in html, "raters do not assign"
    assert f'href="{assign_url}"' in client_for(alice).get(reverse("home")).content.decode()


# --- the assign page ----------------------------------------------------------------------------


def test_only_leads_open_the_assign_page(project, alice, bob, mallory):
    url = reverse("assign", args=[project.pk])
    assert client_for(alice).get(url).status_code == 200
    assert client_for(bob).get(url).status_code == 403
    assert client_for(mallory).get(url).status_code == 404
    response = client_for(bob).post(url, {"rater": "bob", "source": "next", "count": 3})
    assert response.status_code == 403
    assert not Assignment.objects.exists()


def test_alice_assigns_pasted_keys_to_bob_and_sees_what_happened(project, alice, bob, carol):
    items = make_items(project, 6)
    for rater in (alice, carol):  # k=2: two raters hold items[5], so it is full
        items_assign(project=project, rater=rater, assigned_by=alice, item_ids=[items[5].pk])

    keys = f"{items[0].key}\n  {items[1].key}  \n\n{items[1].key}\nno-such-key\n{items[5].key}\n"
    response = client_for(alice).post(
        reverse("assign", args=[project.pk]), {"rater": "bob", "source": "keys", "keys": keys}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Assigned 2 items to bob" in html
    assert "no-such-key" in html
    assert 'data-result="full">1' in html
    held = Assignment.objects.filter(rater=bob, status=AssignmentStatus.ASSIGNED)
    assert sorted(held.values_list("item__key", flat=True)) == [items[0].key, items[1].key]
    assert all(a.assigned_by_id == alice.pk for a in held)

    again = client_for(alice).post(
        reverse("assign", args=[project.pk]), {"rater": "bob", "source": "keys", "keys": keys}
    )
    assert "Nothing new assigned to bob" in again.content.decode()
    assert held.count() == 2


def test_alice_assigns_the_next_items_of_the_queue(project, alice, carol):
    make_items(project, 10)
    item_claim(project=project, rater=carol, hold=2)  # carol already holds two
    response = client_for(alice).post(
        reverse("assign", args=[project.pk]), {"rater": "carol", "source": "next", "count": 4}
    )
    assert "Assigned 4 items to carol" in response.content.decode()
    assert Assignment.objects.filter(rater=carol, status=AssignmentStatus.ASSIGNED).count() == 4
    assert Assignment.objects.filter(rater=carol).count() == 6, "never an item carol holds"
    assert "carol" in response.content.decode().split("Waiting for their rater")[1]


def test_the_assign_form_says_what_is_missing(project, alice, mallory):
    url = reverse("assign", args=[project.pk])
    html = client_for(alice).post(url, {"rater": "bob", "source": "keys", "keys": " \n"}).content
    assert b"Paste at least one item key." in html
    html = client_for(alice).post(url, {"rater": "mallory", "source": "next", "count": 2}).content
    assert b"Select a valid choice" in html, "only members can be chosen"
    assert not Assignment.objects.exists()


def test_a_superuser_outside_the_project_sees_the_page_but_cannot_label(project):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client_for(root).get(reverse("label", args=[project.pk]))
    assert response.status_code == 200
    assert page_config(response)["canLabel"] is False


def test_the_zoom_reset_key_is_one_no_label_can_have(bob):
    """The digits of the demo own 0-9, which once also reset the zoom; "." can never be a
    label's key, so it resets the zoom in every project, and the shortcuts list says so."""
    from django.core.exceptions import ValidationError

    from projects.models import hotkey_validator

    digits = make_project(
        lead=UserFactory(), raters=[bob], name="Digits",
        labels=[{"value": str(d), "display_name": str(d), "color": "#4f6bed", "hotkey": str(d)}
                for d in range(10)],
        content_type="image",
    )  # fmt: skip
    response = client_for(bob).get(reverse("label", args=[digits.pk]))
    assert page_config(response)["zoomResetKey"] == "."
    assert "<kbd>+</kbd> <kbd>-</kbd> <kbd>.</kbd>" in response.content.decode()
    with pytest.raises(ValidationError):
        hotkey_validator(".")
