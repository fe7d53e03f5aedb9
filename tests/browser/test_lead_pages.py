"""A lead's day in a real Chromium: create a project with three labels, write instructions, add a
rater, import a CSV and watch it finish, browse the items, make an API token. Every page is
screenshotted under var/screenshots/ so that a person looks at it."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from core.jobs.models import JobStatus
from projects.models import ImportJob, Project
from tests.conftest import browser_login, screenshot
from tests.factories import make_project

pytestmark = pytest.mark.browser

REVIEWS = [
    ("r-001", "Arrived two days early and works exactly as described.", "1"),
    ("r-002", "The strap broke after a week; support never answered my emails.", "0"),
    ("r-003", "It is fine. Nothing special, nothing wrong.", "0"),
    ("r-004", "Best purchase this year, my kids love it.", "2"),
    ("r-005", "Smaller than the photos suggest, but well made.", "0"),
    ("r-006", "Stopped charging on day three. Returned it.", "0"),
    ("r-007", "Does what it says. " * 30, "0"),
]


def write_csv(tmp_path: Path, rows: list[tuple[str, str, str]], name: str = "reviews.csv") -> Path:
    path = tmp_path / name
    lines = ["key,text,priority,source"]
    lines += [f'{key},"{text}",{priority},shop' for key, text, priority in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_lead_sets_up_a_project(page: Any, live_server: Any, alice, bob, tmp_path):
    browser_login(page, live_server, "alice")
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    screenshot(page, "lead-01-home-empty")

    # --- create a project with three labels ----------------------------------------------------
    page.get_by_role("link", name="New project").first.click()
    expect(page.get_by_role("heading", name="New project")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Product reviews")
    page.get_by_label("Description").fill("Sentiment of customer reviews from the shop.")
    page.get_by_role("textbox", name=re.compile("^Instructions")).fill(
        "Read the **whole** review.\n\n- Positive: praise"
    )
    page.get_by_role("tab", name="Preview").click()
    expect(page.locator("[data-md-preview] strong")).to_have_text("whole")
    page.get_by_role("tab", name="Write").click()
    for n, (name, key) in enumerate([("Positive", "1"), ("Negative", "2"), ("Neutral", "s")]):
        page.locator(f"[name=labels-{n}-display_name]").fill(name)
        page.locator(f"[name=labels-{n}-hotkey]").fill(key)
    # The value follows the display name until it is edited by hand.
    expect(page.locator("[name=labels-0-value]")).to_have_value("positive")
    screenshot(page, "lead-02-project-new")
    page.get_by_role("button", name="Create project").first.click()  # the one at the top

    expect(page.get_by_text("Nothing was saved.")).to_be_visible()
    expect(page.get_by_text("“s” is reserved")).to_be_visible()
    screenshot(page, "lead-03-project-new-errors")
    page.locator("[name=labels-2-hotkey]").fill("3")
    page.get_by_role("button", name="Create project").last.click()

    expect(page.get_by_role("heading", name="Product reviews", level=1)).to_be_visible()
    expect(page.get_by_text("No items yet.")).to_be_visible()
    project = Project.objects.get(name="Product reviews")
    assert list(project.labels.values_list("value", "hotkey")) == [
        ("positive", "1"),
        ("negative", "2"),
        ("neutral", "3"),
    ]
    screenshot(page, "lead-04-dashboard-empty")

    # --- edit the instructions, add a fourth label ---------------------------------------------
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("textbox", name=re.compile("^Instructions")).fill(
        "Read the **whole** review before you choose.\n\n"
        "| Label | When |\n|---|---|\n| Positive | praise, would buy again |\n"
        "| Negative | complaint, return |\n| Neutral | neither, or facts only |\n\n"
        "Press **s** to skip a review you cannot judge."
    )
    page.get_by_role("button", name="Add label").click()
    page.locator("[name=labels-3-display_name]").fill("Mixed feelings")
    expect(page.locator("[name=labels-3-value]")).to_have_value("mixed_feelings")
    page.locator("[name=labels-3-hotkey]").fill("4")
    screenshot(page, "lead-05-settings")
    page.get_by_role("tab", name="Preview").click()
    expect(page.locator("[data-md-preview] table")).to_be_visible()
    screenshot(page, "lead-05b-settings-preview")
    page.get_by_role("button", name="Save settings").last.click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    assert project.labels.count() == 4

    # --- add a rater ---------------------------------------------------------------------------
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Username").fill("nobody")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("There is no user named “nobody”.")).to_be_visible()
    page.get_by_label("Username").fill("bob")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("bob joined as a rater.")).to_be_visible()
    expect(page.get_by_role("cell", name="bob", exact=True)).to_be_visible()
    screenshot(page, "lead-06-members")

    # --- import a CSV and watch it finish ------------------------------------------------------
    page.get_by_role("link", name="Import", exact=True).click()
    screenshot(page, "lead-07-import")
    page.locator("input[type=file]").set_input_files(str(write_csv(tmp_path, REVIEWS)))
    expect(page.get_by_text("reviews.csv ·")).to_be_visible()
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=30_000)
    expect(page.locator('[data-job-counts="created_count"]')).to_have_text("7")
    screenshot(page, "lead-08-import-job")

    # --- a bad file is rejected whole, with its errors -----------------------------------------
    page.get_by_role("link", name="Import another file").click()
    bad = tmp_path / "broken.csv"
    bad.write_text("key,text,gold\nb-1,Fine,positive\nb-2,Awful,terrible\nb-3,,negative\n")
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Failed", timeout=30_000)
    expect(page.get_by_role("heading", name="Problems in the file")).to_be_visible()
    expect(page.get_by_role("button", name="Retry import")).to_be_visible()
    screenshot(page, "lead-09-import-job-failed")

    # --- the items -----------------------------------------------------------------------------
    page.get_by_role("link", name="Items", exact=True).click()
    expect(page.get_by_role("cell", name="r-001")).to_be_visible()
    expect(page.get_by_text("7 items")).to_be_visible()
    screenshot(page, "lead-10-items")
    page.get_by_label("Key").fill("r-00")
    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("7 items match")).to_be_visible()

    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Progress")).to_be_visible()
    screenshot(page, "lead-11-dashboard")

    # --- an API token --------------------------------------------------------------------------
    page.get_by_role("link", name="API tokens").click()
    screenshot(page, "lead-12-tokens-empty")
    page.get_by_label("Name", exact=True).fill("nightly export")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token secret")
    expect(secret).to_have_value(re.compile(r"^acc_"))
    expect(page.get_by_text("Copy it now.")).to_be_visible()
    screenshot(page, "lead-13-tokens-new")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("was revoked")).to_be_visible()
    expect(page.get_by_label("Token secret")).to_have_count(0)
    screenshot(page, "lead-14-tokens")

    page.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("link", name="Product reviews")).to_be_visible()
    screenshot(page, "lead-15-home")


def test_the_job_page_follows_a_running_import(page: Any, live_server: Any, project, alice):
    """The job page polls its status: a job that finishes while the page is open shows it."""
    job = ImportJob.objects.create(
        project=project,
        original_name="big.csv",
        status=JobStatus.RUNNING,
        phase="reading",
        progress=1200,
        total=5000,
        created_by=alice,
    )
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/imports/{job.pk}/")
    expect(page.locator("[data-job-count]")).to_have_text("1,200 of 5,000 rows")
    screenshot(page, "lead-16-import-job-running")

    ImportJob.objects.filter(pk=job.pk).update(phase="saving", progress=4000)
    expect(page.locator("[data-job-count]")).to_have_text("4,000 of 5,000 rows")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "80")

    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, phase="done", progress=5000, created_count=4990,
        duplicate_count=10,
    )  # fmt: skip
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded")
    expect(page.get_by_role("link", name="View items")).to_be_visible()


def test_a_rater_sees_instructions_and_own_counts(page: Any, live_server: Any, project, bob):
    Project.objects.filter(pk=project.pk).update(
        description="How do customers feel about the product?",
        instructions="## Before you start\n\nRead the **whole** review. Skip with `s`.",
    )
    browser_login(page, live_server, "bob")
    expect(page.get_by_role("link", name="Sentiment")).to_be_visible()
    screenshot(page, "rater-01-home")
    page.get_by_role("link", name="Sentiment").click()
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    expect(page.get_by_text("labeled by you")).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    screenshot(page, "rater-02-dashboard")
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    expect(page.get_by_role("heading", name="You can't open this page")).to_be_visible()
    screenshot(page, "rater-03-forbidden")
    page.goto(f"{live_server.url}/projects/{project.pk + 1000}/")
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    screenshot(page, "rater-04-not-found")


def test_image_items_show_thumbnails(page: Any, live_server: Any, alice, tmp_path):
    """A ZIP of images becomes items whose thumbnails the items page shows."""
    digits = make_project(
        lead=alice, name="Handwritten digits", content_type="image",
        labels=[{"value": str(n), "display_name": str(n), "hotkey": str(n)} for n in range(10)],
    )  # fmt: skip
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n, color in enumerate(["#4f46e5", "#1f8a4c", "#d97706", "#c53030", "#0e7490"]):
            buffer = io.BytesIO()
            image = Image.new("RGB", (64, 48), color)
            ImageDraw.Draw(image).rectangle((8 + 6 * n, 8, 28 + 6 * n, 36), fill="white")
            image.save(buffer, format="PNG")
            zf.writestr(f"digits/{n}.png", buffer.getvalue())
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{digits.pk}/import/")
    page.locator("input[type=file]").set_input_files(str(archive))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=30_000)
    page.get_by_role("link", name="View items").click()
    thumbnails = page.locator("img.thumb")
    expect(thumbnails).to_have_count(5)
    # Every thumbnail loaded: the browser decoded an image from item-thumbnail.
    page.wait_for_function(
        "[...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "lead-17-items-images")
