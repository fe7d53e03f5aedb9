"""A lead works through the conflict queue in the admin, in a real Chromium, by keyboard.

alice (staff) leads "Product reviews" (k = 3, at least 70% must agree); bob, carol and dave
label through the real services, carol as an external rater named in an imported file; a full
recompute scores them; alice asks for one more rater on r-102, and erin, who joined after the
recompute, labels it. The queue, the resolution page, the page after a decision and the lists
of decisions and labels of record are screenshotted under var/screenshots/ so that a person
looks at them.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from agreement.models import Conflict, ConflictStatus, LabelOfRecord, LabelSource
from agreement.services.conflicts import conflict_more_raters
from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
from labeling.lead_assignment import items_assign
from labeling.members import membership_set
from labeling.services import annotation_submit
from projects.models import AgreementRule, ContentType, Item, ItemStatus, Membership, Project, Role
from projects.services.images import image_store
from tests.conftest import browser_login, screenshot
from tests.factories import UserFactory, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = """Label the **overall** sentiment of the review.

- *Positive*: the customer would buy again.
- *Negative*: the customer regrets the purchase, sarcasm included.
- *Neutral*: facts only, or praise and complaints that cancel out.
"""
REVIEWS = {
    "r-101": "The strap broke after a week, but support replaced it within two days and even "
    "paid for the shipping. I'm torn: the product let me down, the company didn't.",
    "r-102": "Best purchase this year. Truly. If you enjoy charging a watch twice a day.",
    "r-103": "It is fine. Nothing special, nothing wrong. It tells the time.",
    "r-104": "Arrived two days early and works exactly as described.",
}
VOTES = {  # bob, carol, dave
    "r-101": ("positive", "negative", "neutral"),
    "r-102": ("positive", "negative", "negative"),
    "r-103": ("neutral", "neutral", "positive"),
    "r-104": ("positive", "positive", "positive"),
}


def label_all(project: Project, lead: Any, raters: list[Any], votes: dict[str, tuple]) -> None:
    for key, values in votes.items():
        item = Item.objects.get(project=project, key=key)
        for rater, value in zip(raters, values, strict=True):
            items_assign(project=project, rater=rater, assigned_by=lead, item_ids=[item.pk])
            annotation_submit(
                project=project, item_id=item.pk, rater=rater, value=value,
                client_id=uuid.uuid4(), time_spent_ms=3000 + 700 * len(key),
            )  # fmt: skip


@pytest.fixture
def reviews(alice, bob, carol) -> Project:
    alice.is_staff = True
    alice.first_name, alice.last_name = "Alice", "Moreau"
    alice.save(update_fields=["is_staff", "first_name", "last_name"])
    dave = UserFactory(username="dave", first_name="Dave", last_name="Okafor")
    project = make_project(
        lead=alice, raters=[bob, carol, dave], raters_per_item=3, name="Product reviews",
        agreement_rule=AgreementRule.MIN_SHARE, agreement_threshold=0.7,
        instructions=INSTRUCTIONS,
    )  # fmt: skip
    for key, text in REVIEWS.items():
        digest = hashlib.sha256(text.encode()).hexdigest()
        Item.objects.create(project=project, key=key, text=text, content_hash=digest)
    label_all(project, alice, [bob, carol, dave], VOTES)
    # Once her labels are in, carol is made external, as an annotation import names a rater
    # without an account (an external rater never claims).
    Membership.objects.filter(project=project, user=carol).update(
        is_external=True, external_name="Vendor annotator 7"
    )
    # The raters' scorecards, from a full recompute; a rater who joins later has none yet.
    job = agreement_recompute_request(project=project, requested_by=alice, enqueue=False)
    agreement_recompute_run(job_id=job.pk)
    erin = UserFactory(username="erin", first_name="Erin", last_name="Lindqvist")
    membership_set(project=project, user=erin, role=Role.RATER)
    item = Item.objects.get(project=project, key="r-102")
    conflict_more_raters(conflict=Conflict.objects.get(item=item), lead=alice)
    label_all(project, alice, [erin], {"r-102": ("neutral",)})
    return project


def state(project: Project, key: str) -> tuple[str, str, Any]:
    item = Item.objects.get(project=project, key=key)
    record = LabelOfRecord.objects.filter(item=item).first()
    conflict = Conflict.objects.get(item=item)
    return item.status, conflict.status, (record.value, record.source) if record else None


def on_conflict(page: Any, key: str) -> None:
    """Wait for the conflict's page, and for its keys: a module script runs once the document
    is parsed, so a key pressed as soon as the title shows could come before it listens."""
    expect(page.locator(".cr-title")).to_have_text(key)
    page.wait_for_load_state("domcontentloaded")


def test_alice_resolves_by_keyboard_and_moves_through_the_queue(page, live_server, reviews):
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/admin/agreement/conflict/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("r-101")
    expect(rows.nth(0)).to_contain_text("0%")
    expect(rows.nth(1)).to_contain_text("r-102")
    expect(rows.nth(2)).to_contain_text("r-103")
    screenshot(page, "conflicts-01-queue")

    rows.nth(0).get_by_role("link").first.click()
    on_conflict(page, "r-101")
    expect(page.locator(".cr-text")).to_contain_text("the company didn't")
    raters = page.locator(".cr-raters tbody tr")
    expect(raters).to_have_count(3)
    expect(raters.nth(1)).to_contain_text("Vendor annotator 7")
    expect(raters.nth(1)).to_contain_text("external")
    for n in range(3):
        expect(raters.nth(n)).to_contain_text(re.compile(r"\d+% agree"))
    expect(page.locator(".cr-agreement")).to_contain_text("a tie")
    expect(page.locator(".cr-choice", has_text="Negative").locator("kbd")).to_have_text("2")
    page.keyboard.press("i")
    expect(page.locator(".cr-instructions")).to_have_attribute("open", "")
    expect(page.locator(".cr-md strong")).to_have_text("overall")
    screenshot(page, "conflicts-02-resolve")

    # A note, typed: the keys of the page do nothing meanwhile ("a", "m", "2" are in it).
    page.keyboard.press("n")
    note = page.locator("textarea[name=note]")
    expect(note).to_be_focused()
    page.keyboard.type("Support made amends, 2 stars at most: a regret.")
    expect(note).to_have_value("Support made amends, 2 stars at most: a regret.")
    expect(page.locator(".cr-title")).to_have_text("r-101")
    page.keyboard.press("Escape")
    page.keyboard.press("2")

    on_conflict(page, "r-102")
    expect(page.locator(".messagelist")).to_contain_text("Resolved r-101 as “Negative”.")
    expect(page.locator(".messagelist button")).to_contain_text("Undo")
    erin_row = page.locator(".cr-raters tbody tr", has_text="Erin Lindqvist")
    expect(erin_row).to_contain_text("not computed yet")
    expect(page.locator(".cr-history")).to_contain_text("One more rater labeled it")
    screenshot(page, "conflicts-03-next-with-undo")
    assert state(reviews, "r-101") == (
        ItemStatus.RESOLVED, ConflictStatus.RESOLVED, ("negative", LabelSource.RESOLUTION),
    )  # fmt: skip

    page.keyboard.press("a")
    on_conflict(page, "r-103")
    expect(page.locator(".messagelist")).to_contain_text("Marked r-102 ambiguous")
    assert state(reviews, "r-102") == (ItemStatus.RESOLVED, ConflictStatus.AMBIGUOUS, None)

    # Undo takes the last decision back and shows that conflict again.
    page.keyboard.press("u")
    on_conflict(page, "r-102")
    expect(page.locator(".messagelist")).to_contain_text("Reopened r-102")
    assert state(reviews, "r-102") == (ItemStatus.CONFLICT, ConflictStatus.OPEN, None)
    expect(page.locator(".cr-history")).to_contain_text("Marked ambiguous")
    page.keyboard.press("a")
    on_conflict(page, "r-103")

    assert state(reviews, "r-101")[2] == ("negative", LabelSource.RESOLUTION)
    assert state(reviews, "r-102") == (ItemStatus.RESOLVED, ConflictStatus.AMBIGUOUS, None)
    assert state(reviews, "r-103") == (ItemStatus.CONFLICT, ConflictStatus.OPEN, None)
    assert not Conflict.objects.filter(item__key="r-104").exists()  # agreed, never a conflict

    # Every decision is on record, newest first.
    page.goto(f"{live_server.url}/admin/agreement/resolution/")
    decisions = page.locator("#result_list tbody tr")
    expect(decisions).to_have_count(5)  # the fixture asked for one more rater first
    expect(decisions.nth(3)).to_contain_text("Support made amends")
    expect(decisions.nth(0)).to_contain_text("Marked ambiguous")
    screenshot(page, "conflicts-06-decisions")
    page.goto(f"{live_server.url}/admin/agreement/labelofrecord/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # r-101 resolved, r-104
    screenshot(page, "conflicts-07-labels-of-record")


def handwritten_two() -> bytes:
    """A blocky 2 on paper, 8x8 pixels scaled to 16x16."""
    rows = ["00111100", "01000010", "00000010", "00000100", "00011000", "00100000", "01111110",
            "00000000"]  # fmt: skip
    image = Image.new("L", (8, 8), 255)
    for y, row in enumerate(rows):
        for x, ink in enumerate(row):
            if ink == "1":
                image.putpixel((x, y), 20)
    buffer = io.BytesIO()
    image.resize((16, 16), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_conflict_shows_the_image_sharp(page, live_server, alice, bob, carol):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    digits = [
        {"value": str(d), "display_name": str(d), "color": c, "hotkey": str(d)}
        for d, c in zip(range(10), ["#4f6bed", "#2e9e5b", "#d64545", "#c98a1b", "#8b5cf6"] * 2,
                        strict=True)
    ]  # fmt: skip
    project = make_project(
        lead=alice, raters=[bob, carol], raters_per_item=2, name="Handwritten digits",
        labels=digits, content_type=ContentType.IMAGE,
    )  # fmt: skip
    blob = image_store(data=handwritten_two(), name="two.png")
    item = Item.objects.create(
        project=project, key="digit-0042", image=blob, content_hash=blob.sha256,
        data={"file": "images/digit-0042.png"},
    )  # fmt: skip
    for rater, value in ((bob, "2"), (carol, "7")):
        items_assign(project=project, rater=rater, assigned_by=alice, item_ids=[item.pk])
        annotation_submit(project=project, item_id=item.pk, rater=rater, value=value,
                          client_id=uuid.uuid4(), time_spent_ms=2100)  # fmt: skip

    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/admin/agreement/conflict/")
    expect(page.locator("#result_list img.cq-thumb")).to_have_count(1)
    page.locator("#result_list tbody tr").first.get_by_role("link").first.click()
    on_conflict(page, "digit-0042")
    img = page.locator(".cr-figure img")
    expect(img).to_have_css("image-rendering", "pixelated")
    page.wait_for_function("() => document.querySelector('.cr-figure img').complete")
    assert img.bounding_box()["width"] >= 300, "a 16 px image is shown enlarged"
    expect(page.locator(".cr-choice")).to_have_count(10)
    screenshot(page, "conflicts-04-image")
    # The admin follows the system's dark theme, and so does the page.
    dark = page.context.browser.new_context(
        viewport={"width": 1360, "height": 860}, color_scheme="dark"
    )
    dark_page = dark.new_page()
    browser_login(dark_page, live_server, "alice")
    dark_page.goto(page.url)
    on_conflict(dark_page, "digit-0042")
    screenshot(dark_page, "conflicts-05-dark")
    dark.close()
    page.keyboard.press("2")
    expect(page).to_have_url(re.compile(r"/admin/agreement/conflict/(\?.*)?$"))
    expect(page.locator(".messagelist")).to_contain_text("No open conflicts left")
    assert LabelOfRecord.objects.get(item=item).value == "2"
