"""The labeling page tells the rater the truth and fits the window: its figures, small images drawn
sharp, the zoom reset on a key no label has, a laptop's 1024x640 window, short texts.

alice leads, bob and carol rate (k=2). Screenshots at 1024x640 and 1440x900 go to
var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from labeling.assignment import item_claim
from labeling.services import annotation_submit
from projects.models import ContentType, Item
from projects.services.images import image_store
from tests.browser.test_labeling_page import (
    INSTRUCTIONS,
    LONG_TEXT,
    annotations_of,
    current_key,
    eventually,
    label_page,
    press_and_wait_for_next,
    settle,
)
from tests.conftest import screenshot
from tests.factories import make_items, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1024, "height": 640}
DESKTOP = {"width": 1440, "height": 900}
TICKET_LABELS = [
    {"value": "billing", "display_name": "Billing", "color": "#c98a1b", "hotkey": "1"},
    {"value": "bug", "display_name": "Bug", "color": "#d64545", "hotkey": "2"},
    {"value": "feature_request", "display_name": "Feature request", "color": "#4f6bed",
     "hotkey": "3"},
    {"value": "account", "display_name": "Account", "color": "#2e9e5b", "hotkey": "4"},
    {"value": "other", "display_name": "Other", "color": "#8a8f98", "hotkey": "5"},
]  # fmt: skip
DIGIT_LABELS = [
    {"value": str(d), "display_name": str(d), "color": "#4f6bed", "hotkey": str(d)}
    for d in range(10)
]


@pytest.fixture
def window(browser) -> Any:
    """Pages of a given window size, each closed (after its requests settle) at the end."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def open_page(size: dict[str, int]) -> Any:
        context = browser.new_context(viewport=size)
        context.set_default_timeout(10_000)
        contexts.append(context)
        pages.append(context.new_page())
        return pages[-1]

    yield open_page
    for page in pages:
        settle(page)
    for context in contexts:
        context.close()


def inside_window(page: Any, selector: str) -> bool:
    """The element is drawn whole inside the window, with no scrolling."""
    return bool(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].every((el) => {
                 const box = el.getBoundingClientRect();
                 return box.width > 0 && box.top >= 0 && box.left >= 0
                   && box.bottom <= window.innerHeight && box.right <= window.innerWidth;
               })""",
            selector,
        )
    )


def figures(page: Any) -> dict[str, str]:
    return {
        name: page.locator(f"#lab-{name}").inner_text()
        for name in ("session", "mine-today", "mine-remaining", "remaining")
    }


def test_the_figures_say_what_they_count(page, live_server, alice, bob, carol):
    """12 items, k=2. carol has labeled two: they still need a label, but not from her. bob's
    figures move with his own labels at once; this session's count survives a reload."""
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2)
    make_items(project, 12)
    for hold in item_claim(project=project, rater=carol, hold=2):
        annotation_submit(project=project, item_id=hold.item.pk, rater=carol,
                          value="positive", client_id=uuid.uuid4())  # fmt: skip
    label_page(page, live_server, bob, project)
    expect(page.locator("#lab-remaining")).to_have_text("12")
    assert figures(page) == {
        "session": "0", "mine-today": "0", "mine-remaining": "12", "remaining": "12"
    }  # fmt: skip
    for hotkey in ("1", "2", "1"):
        press_and_wait_for_next(page, [hotkey, "Enter"])
    eventually(lambda: len(annotations_of(bob)) == 3)
    expect(page.locator("#lab-session")).to_have_text("3")
    expect(page.locator("#lab-mine-today")).to_have_text("3")
    expect(page.locator("#lab-mine-remaining")).to_have_text("9")
    expect(page.locator("#lab-remaining")).to_have_text("10")  # carol's two are done now
    screenshot(page, "figures-01-after-three")

    page.reload()
    expect(page.locator("#lab-item")).to_be_visible()
    expect(page.locator("#lab-mine-remaining")).to_have_text("9")
    assert figures(page)["session"] == "3", "a reload is the same sitting"
    page.keyboard.press("?")
    expect(page.locator("#lab-help")).to_contain_text("left for you")
    expect(page.locator("#lab-help")).to_contain_text("still need a label from anyone")


def _digit_png(side: int) -> bytes:
    """A black stroke on white paper, `side` pixels square: pixel art, as the demo's digits."""
    image = Image.new("L", (side, side), 255)
    for n in range(side):
        image.putpixel((n, n), 0)
        image.putpixel((side - 1 - n, n), 0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_small_images_are_drawn_sharp_and_zoom_resets_on_a_key_no_label_has(
    window, live_server, alice, bob
):
    """The labels own 0-9: pressing 0 chooses the label 0, and "." resets the zoom."""
    project = make_project(lead=alice, raters=[bob], name="Digits", labels=DIGIT_LABELS,
                           content_type=ContentType.IMAGE)  # fmt: skip
    for n, side in enumerate((16, 16)):
        blob = image_store(data=_digit_png(side), name=f"d{n}.png")
        Item.objects.create(project=project, key=f"digit-{n}", image=blob,
                            content_hash=blob.sha256, shuffle_key=n)  # fmt: skip
    for size, name in ((LAPTOP, "1024x640"), (DESKTOP, "1440x900")):
        page = window(size)
        label_page(page, live_server, bob, project)
        page.wait_for_function("() => document.getElementById('lab-img').complete")
        img = page.locator("#lab-img")
        expect(img).to_have_class(re.compile(r"\bis-pixelated\b"))
        expect(img).to_have_css("image-rendering", "pixelated")
        assert inside_window(page, ".lab-label, #lab-submit, #lab-skip-btn"), name
        screenshot(page, f"sharp-01-digit-{name}")

    page.keyboard.press("+")
    expect(page.locator("#lab-zoom")).to_have_text("150% · . fits")
    page.keyboard.press("0")
    expect(page.locator('.lab-label[data-value="0"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#lab-zoom")).to_have_text("150% · . fits")  # 0 is the label's key
    page.keyboard.press(".")
    expect(page.locator("#lab-zoom")).to_be_hidden()
    page.keyboard.press("?")
    expect(page.locator("#lab-help")).to_contain_text("Zoom the image in, out, back to fit")
    expect(page.locator("#lab-help tr", has_text="Zoom").locator("kbd").nth(2)).to_have_text(".")
    screenshot(page, "sharp-02-shortcuts-1440x900")


def test_an_image_larger_than_half_its_room_is_smoothed_until_zoomed(page, live_server, alice, bob):
    project = make_project(lead=alice, raters=[bob], name="Photos", labels=DIGIT_LABELS,
                           content_type=ContentType.IMAGE)  # fmt: skip
    photo = Image.effect_mandelbrot((600, 450), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    blob = image_store(data=buffer.getvalue(), name="photo.png")
    Item.objects.create(project=project, key="photo", image=blob, content_hash=blob.sha256)
    label_page(page, live_server, bob, project)
    page.wait_for_function("() => document.getElementById('lab-img').complete")
    img = page.locator("#lab-img")
    expect(img).not_to_have_class(re.compile(r"\bis-pixelated\b"))
    for _ in range(3):
        page.keyboard.press("+")
    expect(page.locator("#lab-zoom")).to_have_text("300% · . fits")
    expect(img).to_have_class(re.compile(r"\bis-pixelated\b"))  # drawn at over twice its size
    page.keyboard.press("Escape")
    expect(img).not_to_have_class(re.compile(r"\bis-pixelated\b"))


def test_a_laptop_window_shows_the_item_labels_buttons_and_instructions(
    window, live_server, alice, bob
):
    """1024x640: nothing cut off, every label and button in view without scrolling, the
    instructions beside the item and scrollable to their end; a long item scrolls inside its
    card while the buttons stay in view."""
    project = make_project(lead=alice, raters=[bob], name="Support ticket triage",
                           labels=TICKET_LABELS, instructions=INSTRUCTIONS * 6)  # fmt: skip
    items = make_items(project, 4)
    Item.objects.filter(pk=items[0].pk).update(text=LONG_TEXT * 4, shuffle_key=-1)  # first
    for size, name in ((LAPTOP, "1024x640"), (DESKTOP, "1440x900")):
        page = window(size)
        label_page(page, live_server, bob, project)
        expect(page.locator("#lab-instructions")).to_be_visible()
        assert inside_window(page, ".lab-strip dd, .lab-strip dt, .lab-strip .btn"), name
        assert inside_window(page, ".lab-label, #lab-submit, #lab-skip-btn, #lab-back-btn"), name
        assert inside_window(page, "#lab-item, #lab-instructions"), name
        scrolls = page.evaluate(
            """() => { const p = document.getElementById('lab-instructions');
                       p.scrollTop = p.scrollHeight;
                       return p.scrollHeight > p.clientHeight
                         && p.scrollTop + p.clientHeight >= p.scrollHeight - 1; }"""
        )
        assert scrolls, "the instructions are longer than the window and reach their end"
        page.evaluate("() => { document.getElementById('lab-instructions').scrollTop = 0; }")
        screenshot(page, f"laptop-01-{name}")
        assert current_key(page) == items[0].key
        item_scrolls = page.evaluate(
            "() => { const c = document.getElementById('lab-item');"
            " return c.scrollHeight > c.clientHeight; }"
        )
        assert item_scrolls, "a long text scrolls inside its card"
        page.keyboard.press("?")
        expect(page.locator("#lab-help")).to_be_visible()
        screenshot(page, f"laptop-02-shortcuts-{name}")
        page.keyboard.press("Escape")


def test_a_short_text_fills_a_card_sized_to_it(page, live_server, alice, bob):
    """A one-line message at 1440x900: a card of a few lines, the text larger and in its middle,
    the labels right under it; a long text gets the height it needs."""
    page.set_viewport_size(DESKTOP)
    project = make_project(lead=alice, raters=[bob], name="Support ticket triage",
                           labels=TICKET_LABELS, raters_per_item=1)  # fmt: skip
    short, long = make_items(project, 2)
    Item.objects.filter(pk=short.pk).update(text="Is the desktop app accessible?", shuffle_key=0)
    Item.objects.filter(pk=long.pk).update(text=LONG_TEXT * 3, shuffle_key=1)
    label_page(page, live_server, bob, project)
    expect(page.locator("#lab-key")).to_have_text(short.key)
    card = page.locator("#lab-item").bounding_box()
    text = page.locator("#lab-text").bounding_box()
    labels = page.locator(".lab-labels").bounding_box()
    assert card and text and labels
    assert card["height"] < DESKTOP["height"] * 0.4, "the card is not a large empty box"
    assert labels["y"] - (card["y"] + card["height"]) < 30, "the labels sit right under it"
    card_middle, text_middle = card["y"] + card["height"] / 2, text["y"] + text["height"] / 2
    assert abs(card_middle - text_middle) < card["height"] * 0.2, "the text is in the middle"
    expect(page.locator("#lab-text")).to_have_class(re.compile(r"\bis-short\b"))
    screenshot(page, "short-01-1440x900")

    press_and_wait_for_next(page, ["1", "Enter"])
    expect(page.locator("#lab-text")).not_to_have_class(re.compile(r"\bis-short\b"))
    taller = page.locator("#lab-item").bounding_box()
    assert taller and taller["height"] > card["height"], "a long text gets the room it needs"
    assert inside_window(page, ".lab-label, #lab-submit")
    screenshot(page, "short-02-long-text-1440x900")
