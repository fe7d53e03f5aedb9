"""A lead's look at agreement in a real Chromium, and a rater's look at their own scorecard.

alice leads a sentiment project that bob, carol, dave and erin labeled over three weeks (dave
carelessly); she computes agreement from the overview, watches a real worker's recompute finish
on the dashboard, reads a definition, sorts the scorecards. bob opens his own scorecard. Every
page is screenshotted under var/screenshots/ so that a person looks at it.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agreement.models import AgreementRecompute
from core.jobs.models import JobStatus
from labeling.assignment import item_claim
from labeling.services import annotation_submit
from projects.models import Project
from tests.conftest import browser_login, screenshot
from tests.factories import UserFactory, make_items, make_project

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ACCURACY = {"bob": 0.92, "carol": 0.85, "dave": 0.55, "erin": 0.8}
VALUES = ["positive", "negative", "neutral"]


def labeled(alice: Any) -> Project:
    """60 items, three raters each, labeled through the services over three weeks."""
    raters = [UserFactory(username=name) for name in ACCURACY]
    project = make_project(lead=alice, raters=raters, raters_per_item=3, name="Product reviews")
    make_items(project, 60)
    rng = random.Random(11)
    truth: dict[int, str] = {}
    start = timezone.now() - timedelta(weeks=3)
    for week in range(3):
        for rater in raters:
            for _ in range(15):
                holds = item_claim(project=project, rater=rater, hold=1)
                if not holds:
                    break
                item_id = holds[0].item.pk
                right = truth.setdefault(item_id, rng.choices(VALUES, weights=[5, 3, 2])[0])
                value = right if rng.random() < ACCURACY[rater.username] else rng.choice(VALUES)
                annotation_submit(
                    project=project, item_id=item_id, rater=rater, value=value,
                    client_id=uuid.uuid4(), time_spent_ms=rng.randint(3000, 12000),
                    now=start + timedelta(weeks=week, hours=rng.randint(0, 90)),
                )  # fmt: skip
    return project


def test_a_lead_recomputes_and_reads_agreement_and_a_rater_reads_their_scorecard(
    page: Any, browser: Any, live_server: Any, celery_worker_process: str, alice: Any
) -> None:
    from config.celery import app

    assert app.conf.task_always_eager is False, "the recompute must run on the worker"
    project = labeled(alice)

    # --- from the overview to an empty dashboard ------------------------------------------------
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Compute agreement").click()
    expect(page.get_by_role("heading", name="No figures yet")).to_be_visible()
    screenshot(page, "agreement-01-dashboard-empty")

    # --- Recompute: the page follows the worker and shows the figures ---------------------------
    page.get_by_role("button", name="Recompute").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_role("heading", name=re.compile("^Figures from"))).to_be_visible()
    job = AgreementRecompute.objects.get(project=project)
    assert (job.status, job.requested_by) == (JobStatus.SUCCEEDED, alice)
    alpha = page.get_by_role("listitem").filter(has_text=re.compile("Krippendorff's"))
    expect(alpha).to_contain_text("95% interval")
    expect(alpha).to_contain_text("n = 60 items · 4 raters · 180 pairable labels")
    expect(page.get_by_role("img", name="Raters' labels against the consensus")).to_be_visible()
    expect(page.get_by_role("img", name="Agreement per week")).to_be_visible()
    expect(page.get_by_role("link", name="Open the conflict queue")).to_have_attribute(
        "href", f"/admin/agreement/conflict/?project__id__exact={project.pk}"
    )
    screenshot(page, "agreement-02-dashboard")

    # --- a definition ------------------------------------------------------------------------
    alpha.get_by_role("link", name=re.compile("^Krippendorff's")).click()
    expect(page).to_have_url(re.compile(r"/agreement/metrics/#krippendorff-alpha$"))
    definition = page.locator("#krippendorff-alpha")
    expect(definition).to_be_in_viewport()
    expect(definition).to_contain_text("Krippendorff (2011)")
    screenshot(page, "agreement-03-definitions")
    page.go_back()

    # --- the scorecards, sorted --------------------------------------------------------------
    page.get_by_role("link", name="Rater scorecards").first.click()
    expect(page.get_by_role("heading", name="Rater scorecards")).to_be_visible()
    rows = page.locator("table.scorecards tbody tr")
    expect(rows).to_have_count(4)
    # Lowest agreement first by default: dave labeled carelessly.
    expect(rows.first).to_contain_text("dave")
    page.get_by_role("link", name="Median seconds", exact=True).click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Median seconds")
    page.get_by_role("link", name="Median seconds", exact=True).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Median seconds")
    expect(page.get_by_role("img", name=re.compile("^bob: "))).to_be_visible()  # a sparkline
    screenshot(page, "agreement-04-scorecards")

    # --- bob reads his own scorecard, and only his ---------------------------------------------
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    bob = context.new_page()
    browser_login(bob, live_server, "bob")
    bob.goto(f"{live_server.url}/projects/{project.pk}/")
    bob.get_by_role("link", name="Your scorecard").click()
    expect(bob.get_by_role("heading", name="Your scorecard")).to_be_visible()
    expect(bob.get_by_text("Agree with the other raters")).to_be_visible()
    html = bob.content()
    for other in ("carol", "dave", "erin", "/admin/agreement/conflict/"):
        assert other not in html, other
    screenshot(bob, "agreement-05-my-scorecard")
    context.close()
