"""The labeling page in a real Chromium: keyboard only, prefetch, going back, skipping, another
rater's labels never shown, an expired lease, a lead's batch, and a lost connection.

alice leads the project, bob and carol rate in it (k=2). Every state is screenshotted to
var/screenshots/ so that a person can look at it.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from labeling.assignment import item_claim, leases_reclaim_expired
from labeling.lead_assignment import items_assign
from labeling.models import Annotation, Assignment, AssignmentStatus
from labeling.services import annotation_submit
from projects.models import ContentType, Item, LabelKind
from projects.services.images import image_store
from tests.conftest import browser_login, screenshot, wait_for
from tests.factories import make_items, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = """Decide how the **customer** feels about the service.

- **Positive**: they are happy, or thank someone.
- **Negative**: they complain, or ask for a refund.
- **Neutral**: a plain question or statement.

When a message mixes both, label the feeling of its *last* sentence.
"""
LONG_TEXT = (
    "Hello team,\n\n"
    "I ordered the blue kettle on Monday and it arrived today.    The box was fine,\n"
    "but the lid does not close properly and it whistles before the water boils.\n\n"
    "  - order 18-2231\n  - paid by card\n\n"
    "Could you send a replacement lid? Otherwise the service was quick and friendly.\n"
    "Thanks, Jo"
)


@pytest.fixture
def sentiment(alice, bob, carol):
    project = make_project(
        lead=alice, raters=[bob, carol], raters_per_item=2, instructions=INSTRUCTIONS
    )
    items = make_items(project, 12)
    items[0].text = LONG_TEXT
    items[0].save(update_fields=["text"])
    return project


IDLE = """() => {
  const page = window.accordLabeling;
  if (!page) return true;
  const now = page.snapshot();
  return now.inflight === 0 && now.outbox === 0;
}"""


def settle(page: Any) -> None:
    """Wait until the page has sent everything and waits for no answer, then leave it: no
    request of it may still be running in the live server when the test database is flushed."""
    if not page.is_closed():
        page.wait_for_function(IDLE)
        page.goto("about:blank")


@pytest.fixture(autouse=True)
def settled_page(page: Any) -> Any:
    yield page
    settle(page)


def eventually(predicate: Callable[[], Any], *, timeout: float = 30.0) -> Any:
    """wait_for, reading the database while the live server writes to it. On SQLite the test's
    in-memory database is shared-cache, where a concurrent write makes a read fail with "table
    is locked" at once instead of waiting: such a read counts as "not yet"."""

    def attempt() -> Any:
        try:
            return predicate()
        except OperationalError:
            return None

    return wait_for(attempt, timeout=timeout)


def db_read(query: Callable[[], Any]) -> Any:
    """One read of the database now (retried only while it is locked)."""
    return eventually(lambda: (query(),))[0]


def label_page(page: Any, live_server: Any, user: Any, project: Any) -> None:
    browser_login(page, live_server, user.username)
    page.goto(f"{live_server.url}/label/{project.pk}/")
    expect(page.locator("#lab-item")).to_be_visible()


def current_key(page: Any) -> str:
    key = page.locator("#lab-key")
    expect(key).not_to_have_text("")
    return key.inner_text()


def press_and_wait_for_next(page: Any, keys: list[str]) -> str:
    """Press the keys; the last one moves on. Returns the key of the item that was on screen."""
    before = current_key(page)
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#lab-key")).not_to_have_text(before)
    return before


def annotation_of(rater: Any, key: str) -> Annotation | None:
    return Annotation.objects.filter(rater=rater, item__key=key).first()


def annotations_of(rater: Any) -> list[Annotation]:
    return list(Annotation.objects.filter(rater=rater).select_related("item"))


def test_bob_labels_by_keyboard_goes_back_changes_one_and_skips(page, live_server, sentiment, bob):
    label_page(page, live_server, bob, sentiment)
    expect(page.locator(".lab-instructions")).to_contain_text("customer")
    expect(page.locator("#lab-text")).to_have_css("white-space", "pre-wrap")
    screenshot(page, "label-01-first-item")

    page.keyboard.press("1")
    expect(page.locator('.lab-label[data-value="positive"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(page, "label-02-selected")
    labeled: dict[str, str] = {}
    labeled[press_and_wait_for_next(page, ["Enter"])] = "positive"
    more = [("2", "negative"), ("3", "neutral"), ("1", "positive"), ("2", "negative")]
    for hotkey, value in more:
        labeled[press_and_wait_for_next(page, [hotkey, "Enter"])] = value

    rows = eventually(lambda: len(rows := annotations_of(bob)) == 5 and rows)
    assert {a.item.key: a.value for a in rows} == labeled
    assert all(a.time_spent_ms > 0 for a in rows), "time on screen is recorded"
    expect(page.locator("#lab-mine-today")).to_have_text("5")
    expect(page.locator("#lab-sync")).to_have_text("All saved")

    # Enter without a label says what to do and stays.
    on_screen = current_key(page)
    page.keyboard.press("Enter")
    expect(page.locator("#lab-hint")).to_contain_text("Choose a label first")
    expect(page.locator("#lab-key")).to_have_text(on_screen)
    page.keyboard.press("3")  # a choice on the current item survives a trip back

    # Back (U) to the last item: bob's own label is shown; he changes it.
    last_key = list(labeled)[-1]
    page.keyboard.press("u")
    expect(page.locator("#lab-review")).to_be_visible()
    expect(page.locator("#lab-key")).to_have_text(last_key)
    expect(page.locator('.lab-label[data-value="negative"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(page, "label-03-going-back")
    first_id = eventually(lambda: annotation_of(bob, last_key)).pk
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#lab-review")).to_be_hidden()
    expect(page.locator("#lab-key")).to_have_text(on_screen)
    expect(page.locator('.lab-label[data-value="neutral"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    changed = eventually(lambda: (a := annotation_of(bob, last_key)) and a.revision == 2 and a)
    assert changed.pk == first_id and changed.value == "positive"

    # Backspace goes back too, two steps; Esc returns without a change.
    page.keyboard.press("Backspace")
    expect(page.locator("#lab-key")).to_have_text(last_key)
    expect(page.locator('.lab-label[data-value="positive"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    page.keyboard.press("Backspace")
    expect(page.locator("#lab-key")).to_have_text(list(labeled)[-2])
    page.keyboard.press("Escape")
    expect(page.locator("#lab-key")).to_have_text(on_screen)
    assert eventually(lambda: annotation_of(bob, list(labeled)[-2])).revision == 1

    # S skips at once; Shift+S asks why first.
    skipped = press_and_wait_for_next(page, ["s"])
    eventually(
        lambda: Assignment.objects.filter(
            rater=bob, item__key=skipped, status=AssignmentStatus.SKIPPED
        ).exists()
    )
    page.keyboard.press("Shift+S")
    expect(page.locator("#lab-skip")).to_be_visible()
    page.keyboard.type("Unclear or ambiguous")
    screenshot(page, "label-04-skip-reason")
    reasoned = current_key(page)
    page.keyboard.press("Enter")
    expect(page.locator("#lab-key")).not_to_have_text(reasoned)
    eventually(
        lambda: Assignment.objects.filter(
            rater=bob, item__key=reasoned, skip_reason="Unclear or ambiguous"
        ).exists()
    )
    assert not {a.item.key for a in db_read(lambda: annotations_of(bob))} & {skipped, reasoned}

    # ? lists the shortcuts; i hides the instructions, and the page remembers it.
    page.keyboard.press("?")
    expect(page.locator("#lab-help")).to_be_visible()
    screenshot(page, "label-05-shortcuts")
    page.keyboard.press("Escape")
    expect(page.locator("#lab-help")).to_be_hidden()
    page.keyboard.press("i")
    expect(page.locator("#lab-instructions")).to_be_hidden()
    screenshot(page, "label-06-instructions-hidden")
    page.reload()
    expect(page.locator("#lab-item")).to_be_visible()
    expect(page.locator("#lab-instructions")).to_be_hidden()
    page.keyboard.press("i")
    expect(page.locator("#lab-instructions")).to_be_visible()


def test_carol_never_sees_bobs_labels(page, live_server, sentiment, bob, carol):
    # bob labels three items "negative": with k=2 they come first in carol's queue.
    for hold in item_claim(project=sentiment, rater=bob, hold=3):
        annotation_submit(
            project=sentiment,
            item_id=hold.item.pk,
            rater=bob,
            value="negative",
            client_id=uuid.uuid4(),
        )
    bobs = set(Annotation.objects.filter(rater=bob).values_list("item__key", flat=True))
    bodies: list[Any] = []
    page.on("response", lambda response: "/api/" in response.url and bodies.append(response))

    label_page(page, live_server, carol, sentiment)
    seen = []
    for _ in range(3):
        seen.append(current_key(page))
        expect(page.locator('.lab-label[aria-pressed="true"]')).to_have_count(0)
        press_and_wait_for_next(page, ["1", "Enter"])
    assert set(seen) == bobs, "carol got the items bob started, without his labels"
    page.keyboard.press("u")
    expect(page.locator("#lab-key")).to_have_text(seen[-1])
    expect(page.locator('.lab-label[aria-pressed="true"]')).to_have_attribute(
        "data-value", "positive"
    )
    screenshot(page, "label-07-carol-going-back")
    for key in reversed(seen[:-1]):
        page.keyboard.press("u")
        expect(page.locator("#lab-key")).to_have_text(key)
    page.keyboard.press("u")  # past this tab's items: the page asks the server for more
    expect(page.locator("#lab-hint")).to_have_text("Nothing further back.")
    eventually(lambda: Annotation.objects.filter(rater=carol).count() == 3)

    texts = [response.text() for response in bodies]
    assert any("history" in response.url for response in bodies)
    assert texts and all("negative" not in text for text in texts), "no trace of bob's labels"
    assert all('"bob"' not in text for text in texts)
    assert "negative" not in page.locator("#lab-item").inner_text()


def test_an_expired_lease_is_said_and_the_page_moves_on(
    page, live_server, sentiment, alice, bob, carol
):
    label_page(page, live_server, bob, sentiment)
    lost = current_key(page)

    # bob stayed away too long: his lease ran out, a claim gave the item back to the queue, and
    # two other raters (k=2) took it, so his late label has no slot left.
    def expire() -> bool:
        Assignment.objects.filter(rater=bob, item__key=lost).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        leases_reclaim_expired(project=sentiment)
        return Assignment.objects.filter(
            rater=bob, item__key=lost, status=AssignmentStatus.EXPIRED
        ).exists()

    eventually(expire)
    for other in (alice, carol):
        db_read(lambda other=other: items_assign(
            project=sentiment, rater=other, assigned_by=alice, keys=[lost]
        ))  # fmt: skip

    press_and_wait_for_next(page, ["2", "Enter"])
    notice = page.locator("#lab-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(f"Your lease on “{lost}” expired")
    expect(notice).to_contain_text("not saved")
    screenshot(page, "label-08-lease-expired")
    assert db_read(lambda: annotations_of(bob)) == []
    nxt = press_and_wait_for_next(page, ["1", "Enter"])
    eventually(lambda: annotation_of(bob, nxt))
    page.keyboard.press("Escape")
    expect(notice).to_be_hidden()


def test_a_batch_alice_assigns_comes_first_for_bob(browser, page, live_server, sentiment, bob):
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/")
    card = page.locator(".project-card", has_text=sentiment.name)
    expect(card.get_by_role("link", name="Start labeling")).to_be_visible()
    screenshot(page, "home-01-project-card")
    card.get_by_role("link", name="Assign").click()
    expect(page.locator("textarea[name=keys]")).to_be_visible()
    page.get_by_label("The next items of the queue").check()
    expect(page.locator("textarea[name=keys]")).to_be_hidden()
    expect(page.locator("input[name=count]")).to_be_visible()
    page.get_by_label("These item keys").check()
    page.select_option("select[name=rater]", "bob")
    page.fill("textarea[name=keys]", "item-9\nitem-4\nitem-11\nitem-404\n")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".assign-result")).to_contain_text("Assigned 3 items to bob")
    expect(page.locator('[data-result="unknown"]')).to_contain_text("item-404")
    screenshot(page, "assign-01-result")

    context = browser.new_context(viewport={"width": 1360, "height": 860})
    try:
        bob_page = context.new_page()
        label_page(bob_page, live_server, bob, sentiment)
        expect(bob_page.locator("#lab-tag")).to_have_text("Assigned to you")
        screenshot(bob_page, "assign-02-bob-gets-them-first")
        firsts = [press_and_wait_for_next(bob_page, ["1", "Enter"]) for _ in range(3)]
        assert firsts == ["item-4", "item-9", "item-11"], "assigned items first, in item order"
        expect(bob_page.locator("#lab-tag")).to_be_hidden()
        eventually(lambda: Annotation.objects.filter(rater=bob).count() == 3)
        settle(bob_page)
    finally:
        context.close()


def test_labels_made_offline_are_kept_and_sent_later(page, live_server, sentiment, bob):
    label_page(page, live_server, bob, sentiment)
    page.route("**/api/v1/**", lambda route: route.abort("internetdisconnected"))
    offline = press_and_wait_for_next(page, ["3", "Enter"])
    banner = page.locator("#lab-banner")
    expect(banner).to_contain_text("Offline — 1 label waiting to be sent")
    screenshot(page, "label-09-offline")

    page.reload()  # still offline: the label waits in this browser's storage
    expect(banner).to_contain_text("Offline — 1 label waiting to be sent")
    assert annotation_of(bob, offline) is None

    page.unroute("**/api/v1/**")
    arrived = eventually(lambda: annotation_of(bob, offline))
    assert arrived.value == "neutral" and arrived.revision == 1
    expect(banner).to_be_hidden(timeout=20_000)
    expect(page.locator("#lab-item")).to_be_visible(timeout=20_000)
    assert current_key(page) != offline
    assert page.evaluate("() => window.accordLabeling.snapshot().outbox") == 0


def test_image_items_fit_and_zoom_and_multi_labels_toggle(page, live_server, alice, bob):
    project = make_project(
        lead=alice,
        raters=[bob],
        name="Street scenes",
        content_type=ContentType.IMAGE,
        label_kind=LabelKind.MULTI,
        instructions="Tick **every** object you can see.",
        labels=[
            {"value": "car", "display_name": "Car", "color": "#4f6bed", "hotkey": "c"},
            {"value": "bike", "display_name": "Bicycle", "color": "#2e9e5b", "hotkey": "b"},
            {"value": "person", "display_name": "Person", "color": "#d99a1e", "hotkey": "p"},
            {"value": "sign", "display_name": "Traffic sign", "color": "#d64545", "hotkey": ""},
        ],
    )
    for n, color in enumerate(["#8ab4f8", "#f6c26b"]):
        Item.objects.create(
            project=project, key=f"scene-{n}", image=image_store(data=_png(color), name="a.png"),
            content_hash=f"h{n}", shuffle_key=n,
        )  # fmt: skip
    label_page(page, live_server, bob, project)
    img = page.locator("#lab-img")
    expect(img).to_be_visible()
    page.wait_for_function("() => document.getElementById('lab-img').complete")
    box = img.bounding_box()
    assert box and box["width"] > 600, "a small image is scaled up to fit"
    page.keyboard.press("c")
    page.keyboard.press("p")
    page.keyboard.press("c")
    page.keyboard.press("1")  # the label without a hotkey got the first free key
    screenshot(page, "label-10-image-multi")
    page.keyboard.press("+")
    page.keyboard.press("+")
    expect(page.locator("#lab-zoom")).to_have_text("200% · . fits")
    screenshot(page, "label-11-image-zoomed")
    page.keyboard.press(".")
    expect(page.locator("#lab-zoom")).to_be_hidden()
    first = press_and_wait_for_next(page, ["Enter"])
    eventually(lambda: annotation_of(bob, first))
    assert annotation_of(bob, first).value == ["person", "sign"]
    expect(page.locator("#lab-submit")).to_contain_text("none of these")
    page.keyboard.press("Enter")  # nothing ticked: "none of these"
    expect(page.locator("#lab-empty")).to_be_visible()
    expect(page.locator("#lab-empty")).to_contain_text("Nothing left for you in this project")
    expect(page.locator("#lab-empty")).to_contain_text("2 items still need labels from other")
    expect(page.locator("#lab-empty-home")).to_be_focused()
    screenshot(page, "label-12-empty")
    eventually(
        lambda: Annotation.objects.filter(rater=bob, label=None, rating=None, chosen=None).exists()
    )


def test_a_rating_scale_takes_number_keys(page, live_server, alice, bob):
    project = make_project(
        lead=alice, raters=[bob], name="Answer quality", label_kind=LabelKind.RATING,
        rating_min=0, rating_max=10,
    )  # fmt: skip
    make_items(project, 3)
    label_page(page, live_server, bob, project)
    page.keyboard.press("7")
    expect(page.locator('.lab-rate[aria-pressed="true"]')).to_have_attribute("data-value", "7")
    page.keyboard.press("ArrowRight")
    expect(page.locator('.lab-rate[aria-pressed="true"]')).to_have_attribute("data-value", "8")
    screenshot(page, "label-13-rating")
    first = press_and_wait_for_next(page, ["Enter"])
    page.keyboard.press("1")
    page.keyboard.press("0")
    expect(page.locator('.lab-rate[aria-pressed="true"]')).to_have_attribute("data-value", "10")
    second = press_and_wait_for_next(page, ["Enter"])
    eventually(lambda: annotation_of(bob, second))
    assert (annotation_of(bob, first).value, annotation_of(bob, second).value) == (8, 10)


def _png(color: str) -> bytes:
    image = Image.new("RGB", (320, 200), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 150, 150), fill="#1c2230")
    draw.ellipse((200, 40, 280, 120), fill="#ffffff")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
