"""The lead's dashboard shows what works and names what is planned.

alice leads the project; bob rates in it.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Item, ItemStatus
from tests.factories import make_items

pytestmark = pytest.mark.django_db


def dashboard(user, project) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("project-detail", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_dashboard_counts_what_labeling_does_and_names_the_planned_steps(project, alice):
    items = make_items(project, 4)
    Item.objects.filter(pk=items[0].pk).update(status=ItemStatus.LABELED)
    page = dashboard(alice, project)
    assert "still need labels" in page and "<span>conflicts</span>" not in page
    legend = page.split('<ul class="legend">')[1].split("</ul>")[0]
    assert "Open" in legend and "Labeled" in legend
    assert "Conflict" not in legend and "Agreed" not in legend and "Resolved" not in legend
    assert "Planned" in page and "dataset versions" in page
    assert "Weak labels</dt>" not in page and "Agreement</dt>" not in page


def test_a_status_the_agreement_step_would_set_is_shown_when_an_item_has_it(project, alice):
    items = make_items(project, 2)
    Item.objects.filter(pk=items[0].pk).update(status=ItemStatus.RESOLVED)  # e.g. in the admin
    legend = dashboard(alice, project).split('<ul class="legend">')[1].split("</ul>")[0]
    assert "Resolved" in legend
