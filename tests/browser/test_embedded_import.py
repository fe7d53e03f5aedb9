"""An import uploaded through the page is run by a real worker, not by the request: on the
embedded default (SQLite, tasks through files) as on PostgreSQL and Redis.

alice leads the project and uploads; the page she lands on follows the worker's progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from core.jobs.models import JobStatus
from projects.models import ImportJob, Item
from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ROWS = 20_000


def test_an_upload_returns_at_once_and_the_worker_imports_it(
    page: Any, live_server: Any, celery_worker_process: str, project: Any, tmp_path: Path,
    settings: Any,
) -> None:  # fmt: skip
    from django.conf import settings as live

    from config.celery import app

    assert app.conf.task_always_eager is False, "no task may run inside the request"

    # The worker reads uploads from the test settings' media root.
    settings.MEDIA_ROOT = Path(live.VAR_DIR) / "test-media"
    path = tmp_path / "messages.csv"
    path.write_text(
        "key,text\n" + "".join(f"m{n},Message number {n} about an order\n" for n in range(ROWS))
    )
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Upload and import").click()

    # The request only stored the file: the job page comes back before the worker is done.
    expect(page.locator("[data-job-badge]")).to_be_visible()
    job = ImportJob.objects.get(project=project)
    assert page.url.endswith(f"/imports/{job.pk}/")
    screenshot(page, "embedded-import-running")
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=120_000)
    expect(page.locator('[data-job-counts="created_count"]')).to_have_text(f"{ROWS:,}")
    screenshot(page, "embedded-import-done")
    job.refresh_from_db()
    assert (job.status, job.created_count, job.attempts) == (JobStatus.SUCCEEDED, ROWS, 1)
    assert Item.objects.filter(project=project).count() == ROWS
