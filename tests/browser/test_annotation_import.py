"""A lead imports a crowd's labels through the page, in a real Chromium, and a real worker runs
the import: the page follows the job to its end; the members page then shows the crowd's
workers as external raters. First a file with a typo, rejected with its line, field and value.

alice leads the project (k=2); bob rates in it; worker-17 and worker-9 are a crowd's workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from core.jobs.models import JobStatus
from labeling.models import Annotation, AnnotationImportJob
from tests.conftest import browser_login, screenshot
from tests.factories import make_items

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ITEMS = 400


def test_a_lead_imports_a_crowds_labels_and_sees_them_land(
    page: Any, live_server: Any, celery_worker_process: str, project: Any, tmp_path: Path,
    settings: Any,
) -> None:  # fmt: skip
    from django.conf import settings as live

    from config.celery import app

    assert app.conf.task_always_eager is False, "no task may run inside the request"
    settings.MEDIA_ROOT = Path(live.VAR_DIR) / "test-media"  # where the worker reads uploads
    make_items(project, ITEMS, prefix="review")
    rows = [
        f"review-{n},{rater},{'positive' if (n + len(rater)) % 3 else 'negative'},"
        f"2025-03-0{1 + n % 9}T1{n % 10}:30:00Z,{1500 + n}"
        for n in range(ITEMS)
        for rater in ("worker-17", "worker-9", "bob")
    ]
    good = tmp_path / "crowd-batch-7.csv"
    good.write_text("item_key,rater,value,created_at,time_spent_ms\n" + "\n".join(rows) + "\n")
    typo = tmp_path / "crowd-batch-7-draft.csv"
    typo.write_text(
        "item_key,rater,value\nreview-0,worker-17,positive\nreview-1,worker-17,postive\n"
        "review-9999,worker-9,negative\n"
    )

    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.get_by_role("link", name="Import annotations").click()
    expect(page.get_by_role("heading", name="Import annotations made elsewhere")).to_be_visible()
    screenshot(page, "annotation-import-01-form")

    # A draft with a typo and a key that is not there: rejected whole, each problem named.
    page.locator("input[type=file]").set_input_files(str(typo))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Failed", timeout=60_000)
    errors = page.locator(".errors-table tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("line 3")
    expect(errors.nth(0)).to_contain_text("postive")
    expect(errors.nth(1)).to_contain_text("review-9999")
    screenshot(page, "annotation-import-02-rejected")
    assert not Annotation.objects.exists()

    # The corrected file: the request only stores it, the worker imports it.
    page.get_by_role("link", name="Upload a corrected file").click()
    page.locator("input[type=file]").set_input_files(str(good))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("[data-job-badge]")).to_be_visible()
    job = AnnotationImportJob.objects.filter(original_name=good.name).get()
    assert page.url.endswith(f"/annotations/imports/{job.pk}/")
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=120_000)
    expect(page.locator('[data-job-counts="created_count"]')).to_have_text(f"{3 * ITEMS:,}")
    expect(page.locator('[data-job-counts="external_rater_count"]')).to_have_text("2")
    screenshot(page, "annotation-import-03-done")
    job.refresh_from_db()
    assert (job.status, job.created_count, job.attempts) == (JobStatus.SUCCEEDED, 3 * ITEMS, 1)

    page.get_by_role("link", name="See the external raters").click()
    externals = page.locator("tr.is-external")
    expect(externals).to_have_count(2)
    expect(externals.first).to_contain_text("external")
    screenshot(page, "annotation-import-04-members")

    page.goto(f"{live_server.url}/projects/{project.pk}/annotations/import/")
    expect(page.locator("table tbody tr")).to_have_count(2)
    screenshot(page, "annotation-import-05-history")

    # An item's page: each rater's label, the crowd's workers marked external, all imported.
    first = project.items.get(key="review-0")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/{first.pk}/")
    raters = page.locator("table.item-raters tbody tr")
    expect(raters).to_have_count(3)
    expect(raters.filter(has_text="worker-17")).to_contain_text("external")
    expect(raters.filter(has_text="bob")).to_contain_text("imported")
    expect(raters.filter(has_text="bob")).not_to_contain_text("external")
    screenshot(page, "annotation-import-06-item")
