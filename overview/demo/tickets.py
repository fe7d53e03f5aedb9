"""The support-ticket demo: short customer messages generated from templates with a fixed seed
(no external data, no real customers). A few mix two topics on purpose, so that raters disagree
on some of them."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

from overview.demo import SEED

TICKETS_PROJECT = "Support ticket triage"
TICKETS_COUNT = 200

TICKETS_INSTRUCTIONS = """\
## Route each message to one team

Read the customer's message and choose the **one** label that names what they need first.

| Key | Label | Choose it when the customer… |
|---|---|---|
| **1** | Billing | was charged, wants a refund, asks about an invoice, a price or a card |
| **2** | Bug | reports something broken: a crash, an error, wrong data, a feature that stopped |
| **3** | Feature request | asks for something the product does not do yet |
| **4** | Account | cannot log in, wants to change their e-mail or password, or to leave |
| **5** | Other | praises, asks a general question, or anything that fits none of the above |

### When a message mentions two things

Pick the one the customer needs solved to move on. *"The app crashed during checkout and now I'm
charged twice"* is **Billing**: the double charge is what they want fixed.

Ignore tone and spelling: an angry message about an invoice is still **Billing**.

*These messages were generated from templates for this demo; they are not real customers.*
"""

TICKET_LABELS = [
    {"value": "billing", "display_name": "Billing", "color": "#c98a1b", "hotkey": "1"},
    {"value": "bug", "display_name": "Bug", "color": "#d64545", "hotkey": "2"},
    {"value": "feature_request", "display_name": "Feature request", "color": "#4f6bed",
     "hotkey": "3"},
    {"value": "account", "display_name": "Account", "color": "#2e9e5b", "hotkey": "4"},
    {"value": "other", "display_name": "Other", "color": "#8a8f98", "hotkey": "5"},
]  # fmt: skip


PRODUCTS = [
    "Tally", "Tally Pro", "the mobile app", "the desktop app", "Inbox Zero", "the web dashboard",
    "Roster", "the browser extension",
]  # fmt: skip
PLANS = ["Starter", "Team", "Business", "annual", "monthly"]
PLATFORMS = ["Android", "iPhone", "Windows 11", "macOS", "Chrome", "Firefox", "Safari", "iPad"]
ACTIONS = [
    "open a shared folder", "export to CSV", "attach a photo", "switch workspaces",
    "print an invoice", "search for an old message", "rotate the screen", "upload a large file",
]  # fmt: skip
WISHES = [
    "export reports to Excel", "schedule messages for later", "switch to a dark theme",
    "pin projects to the top of the list", "show week numbers in the calendar",
    "undo a deleted comment", "work offline", "sign in with a hardware security key",
    "merge duplicate contacts", "send a daily summary by e-mail",
]  # fmt: skip
INTEGRATIONS = ["Slack", "Google Calendar", "Zapier", "Microsoft Teams", "Salesforce", "Notion"]
AMOUNTS = ["$9", "$12", "$19", "$29", "$49", "€15", "€39", "£25"]
DAYS = ["Monday", "Tuesday", "last Friday", "the 3rd", "the 14th", "yesterday", "last week"]
CITIES = ["Lisbon", "Toronto", "Berlin", "Melbourne", "Nairobi", "Austin", "Osaka"]
NAMES = ["Priya", "Tom", "Ana", "Kwame", "Lena", "Mateo", "Sofia", "Jin", "Omar", "Claire"]

TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {plan} subscription this month.",
        "Why did my invoice go up from {amount} to {amount2}? Nobody told me about a price change.",
        "I cancelled {product} on {day} but was still billed {amount}. Please refund it.",
        "My card was declined but the payment of {amount} still shows as pending.",
        "Can I switch from the {plan} plan to paying yearly and get the discount?",
        "Please send me a VAT invoice for the last three months, our accountant needs it.",
        "How do I update the credit card you charge for {product}?",
        "There's a charge of {amount} on my statement from you and I don't recognise it.",
    ],
    "bug": [
        "{product} crashes every time I try to {action} on {platform}.",
        "The export button in {product} does nothing on {platform}.",
        "Since the update on {day}, {product} shows a blank screen right after login.",
        "Notifications stopped arriving on {platform}, even though they're switched on.",
        "When I {action}, I get 'Error 500: something went wrong'.",
        "Dates in {product} are one day off for me since the clocks changed.",
        "Sync between {product} and my {platform} device has been stuck at 99% since {day}.",
        "The search in {product} returns nothing, even for words I can see on the screen.",
    ],
    "feature_request": [
        "It would be great if {product} could {wish}.",
        "Any plans to integrate with {integration}? We use it for everything.",
        "Could you add a way to {wish}? I'd pay extra for it.",
        "Our team would love it if {product} could {wish}.",
        "Feature idea: a way to {wish} in {product}.",
        "Is there a roadmap? We really need a {integration} integration.",
    ],
    "account": [
        "I can't log in: the password reset e-mail never arrives.",
        "How do I change the e-mail address on my account?",
        "Please delete my account and all the data you hold about me.",
        "I'm locked out after too many login attempts on {platform}.",
        "I lost my phone and can't get the two-factor code to sign in to {product}.",
        "How do I add a colleague to our {plan} workspace?",
        "I have two accounts by mistake, can you merge them into one?",
        "Someone changed my password and I didn't do it. Please help!",
    ],
    "other": [
        "Do you have an office in {city}?",
        "Just wanted to say thanks: {product} saves me hours every week.",
        "Are you hiring support staff in {city}?",
        "What are your support hours over the holidays?",
        "Is {product} accessible with a screen reader?",
        "Where can I find your privacy policy in Spanish?",
        "Loved the talk your team gave in {city}, are the slides online?",
    ],
}

# Messages that touch two topics, so that raters disagree on some items (the first is the
# intended label, per the instructions' "what they need solved first").
MIXED_TEMPLATES: list[tuple[str, str]] = [
    ("billing", "The app crashed during checkout on {platform} and now I'm charged twice."),
    ("account", "I can't log in since the update on {day}, is this a bug on your side?"),
    ("feature_request", "Exporting to CSV is so slow it times out. Could you add Excel export?"),
    ("billing", "Please close my account and refund the {amount} you took on {day}."),
    ("bug", "The invoice page in {product} shows an error, so I can't pay my {plan} plan."),
]

OPENERS = ["", "", "Hi, ", "Hello team, ", "Hey, ", "Good morning. ", "URGENT: ", "Hi there! "]
CLOSERS = [
    "", "", "", " Thanks!", " Thank you.", " This is really frustrating.", " Cheers, {name}",
    " Please reply asap.", " Kind regards, {name}", " :)",
]  # fmt: skip
CHANNELS = ["email", "chat", "web form"]


def _fill(template: str, rng: random.Random) -> str:
    amount, amount2 = rng.sample(AMOUNTS, 2)
    return template.format(
        product=rng.choice(PRODUCTS), plan=rng.choice(PLANS), platform=rng.choice(PLATFORMS),
        action=rng.choice(ACTIONS), wish=rng.choice(WISHES), integration=rng.choice(INTEGRATIONS),
        amount=amount, amount2=amount2, day=rng.choice(DAYS), city=rng.choice(CITIES),
        name=rng.choice(NAMES),
    )  # fmt: skip


PROPER_WORDS = frozenset({"I", "I'm", "I've", "Tally", "Inbox", "Roster"})


def _tone(text: str, rng: random.Random) -> str:
    opener = rng.choice(OPENERS)
    first_word = text.split()[0].rstrip(",:")
    if opener.endswith(", ") and first_word not in PROPER_WORDS:
        text = text[0].lower() + text[1:]
    else:
        text = text[0].upper() + text[1:]
    message = opener + text
    message += _fill(rng.choice(CLOSERS), rng)
    if rng.random() < 0.08:
        message = message.lower()  # typed in a hurry
    return message


def support_tickets(*, count: int = TICKETS_COUNT, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """Yield `count` generated support messages as import rows (key, text, a few data fields).
    The same seed gives the same messages, so keys and texts are stable across runs."""
    rng = random.Random(seed)
    topics = list(TEMPLATES)
    seen: set[str] = set()
    number = 0
    while number < count:
        if rng.random() < 0.07:
            intended, template = rng.choice(MIXED_TEMPLATES)
        else:
            intended = rng.choice(topics)
            template = rng.choice(TEMPLATES[intended])
        text = _tone(_fill(template, rng), rng)
        if text in seen:
            continue
        seen.add(text)
        number += 1
        yield {
            "key": f"ticket-{number:04d}",
            "text": text,
            "channel": rng.choice(CHANNELS),
            "template_topic": intended,
        }


def tickets_jsonl(*, count: int = TICKETS_COUNT, seed: int = SEED) -> bytes:
    lines = (json.dumps(row, ensure_ascii=False) for row in support_tickets(count=count, seed=seed))
    return ("\n".join(lines) + "\n").encode()


# Labels from an earlier vendor, imported as annotations of three external raters: each rater
# right with their accuracy, else another label at random (and on the mixed messages, often the
# other topic), so that the demo's dashboard, conflicts and first dataset version have data.
VENDOR_RATERS = [("vendor-ana", 0.93), ("vendor-ben", 0.85), ("vendor-cho", 0.72)]
VENDOR_LABELED = 120


def vendor_annotations_csv(*, seed: int = SEED) -> bytes:
    """CSV rows of item_key, rater, value for the first VENDOR_LABELED tickets."""
    rng = random.Random(seed + 1)
    values = [label["value"] for label in TICKET_LABELS]
    lines = ["item_key,rater,value"]
    for ticket in support_tickets(count=VENDOR_LABELED, seed=seed):
        truth = ticket["template_topic"]
        for rater, accuracy in VENDOR_RATERS:
            value = truth if rng.random() < accuracy else rng.choice(
                [v for v in values if v != truth])  # fmt: skip
            lines.append(f"{ticket['key']},{rater},{value}")
    return ("\n".join(lines) + "\n").encode()
