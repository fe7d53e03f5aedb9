"""A lead reads one item in a real Chromium: the item (a small image drawn sharp, or a text),
every rater's label with each value it held, and the gold answer with who matched it.

alice leads, bob and carol rate (k=2). Screenshots at 1024x640 and 1440x900 under
var/screenshots/.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from labeling.lead_assignment import items_assign
from labeling.services import annotation_submit, item_skip
from projects.models import ContentType, Item
from projects.services.images import image_store
from tests.conftest import browser_login, screenshot
from tests.factories import make_items, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DIGITS = [
    {"value": str(d), "display_name": str(d), "color": c, "hotkey": str(d)}
    for d, c in zip(range(10), ["#4f6bed", "#2e9e5b", "#d64545", "#c98a1b", "#8b5cf6"] * 2,
                    strict=True)
]  # fmt: skip


def eight_by_eight_seven() -> bytes:
    """A blocky 7 on paper, 8x8 pixels scaled to 16x16 (as the demo's digits, but smaller)."""
    rows = ["11111110", "00000110", "00001100", "00011000", "00110000", "00110000", "00110000",
            "00000000"]  # fmt: skip
    image = Image.new("L", (8, 8), 255)
    for y, row in enumerate(rows):
        for x, ink in enumerate(row):
            if ink == "1":
                image.putpixel((x, y), 20)
    buffer = io.BytesIO()
    image.resize((16, 16), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def label(project: Any, rater: Any, item: Item, value: str, ms: int) -> None:
    annotation_submit(project=project, item_id=item.pk, rater=rater, value=value,
                      client_id=uuid.uuid4(), time_spent_ms=ms)  # fmt: skip


def test_alice_opens_an_item_from_the_list_and_reads_every_label(
    browser, live_server, alice, bob, carol
):
    project = make_project(
        lead=alice, raters=[bob, carol], name="Handwritten digits", labels=DIGITS,
        content_type=ContentType.IMAGE, raters_per_item=2,
    )  # fmt: skip
    blob = image_store(data=eight_by_eight_seven(), name="seven.png")
    item = Item.objects.create(
        project=project, key="digit-0007", image=blob, content_hash=blob.sha256, is_gold=True,
        gold_value="7", data={"file": "images/digit-0007.png", "optdigits_row": 866},
    )  # fmt: skip
    for rater, values in ((bob, ["1", "7"]), (carol, ["1"])):
        items_assign(project=project, rater=rater, assigned_by=alice, item_ids=[item.pk])
        for n, value in enumerate(values):
            label(project, rater, item, value, ms=2500 + 1000 * n)

    for size in ({"width": 1024, "height": 640}, {"width": 1440, "height": 900}):
        context = browser.new_context(viewport=size)
        context.set_default_timeout(10_000)
        page = context.new_page()
        browser_login(page, live_server, "alice")
        page.goto(f"{live_server.url}/projects/{project.pk}/items/")
        page.get_by_role("link", name="digit-0007", exact=True).click()
        expect(page.locator("#item-h")).to_have_text("digit-0007")
        img = page.locator(".item-figure img")
        expect(img).to_have_css("image-rendering", "pixelated")
        page.wait_for_function("() => document.querySelector('.item-figure img').complete")
        assert img.bounding_box()["width"] >= 300, "a 16 px image is shown enlarged"
        rows = page.locator(".item-raters tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("bob")
        expect(rows.nth(0).locator(".revisions li")).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("matches")
        expect(rows.nth(1)).to_contain_text("differs")
        expect(page.locator(".col-side")).to_contain_text("1 of 2 matches")
        screenshot(page, f"item-01-gold-image-{size['width']}x{size['height']}")
        context.close()


def test_a_text_item_with_a_skip_and_a_hold(page, live_server, alice, bob, carol):
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2,
                           name="Support ticket triage")  # fmt: skip
    item = make_items(project, 3)[1]
    Item.objects.filter(pk=item.pk).update(
        text="The app crashed during checkout and now I'm charged twice.\n\nPlease help.",
        data={"channel": "email"},
    )
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[item.pk])
    label(project, bob, Item.objects.get(pk=item.pk), "negative", ms=8100)
    items_assign(project=project, rater=carol, assigned_by=alice, item_ids=[item.pk])
    item_skip(item=item, rater=carol, reason="Two topics")
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/{item.pk}/")
    expect(page.locator(".item-text")).to_contain_text("charged twice")
    expect(page.locator(".item-raters")).to_contain_text("Two topics")
    expect(page.locator(".item-raters")).to_contain_text("8.1 s")
    expect(page.get_by_role("link", name="Previous item")).to_be_visible()
    expect(page.get_by_role("link", name="Next item")).to_be_visible()
    screenshot(page, "item-02-text-skip")
    page.get_by_role("link", name="Next item").click()
    expect(page).to_have_url(re.compile(r"/items/\d+/$"))
    expect(page.locator(".item-raters, .empty-state").first).to_be_visible()
