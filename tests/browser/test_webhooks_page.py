"""A lead's webhooks in a real Chromium: alice adds her pipeline's receiver from the keyboard,
copies the secret shown once, pings the receiver and reads its answer in the log, watches a
version's delivery retried until it got through, redelivers a failed one, sees a pending one
update by itself, then deactivates and deletes the webhook. The receiver is a real HTTP server
on 127.0.0.1 that checks every signature. Every page is screenshotted under var/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from exports.models import Webhook, WebhookDelivery
from exports.services.webhooks import webhook_deliver, webhooks_emit_version_ready
from tests.conftest import browser_login, screenshot
from tests.exports.webhook_receiver import ready_version, running_receiver

pytestmark = pytest.mark.browser


def test_a_lead_adds_pings_follows_and_removes_a_webhook(
    page: Any, live_server: Any, project: Any, alice: Any
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/tokens/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name=re.compile("^Webhooks"))).to_be_visible()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    screenshot(page, "webhooks-01-empty")

    with running_receiver() as receiver:
        # --- added from the keyboard; the secret shown once, copied with one click ---------------
        page.get_by_label("Payload URL").fill("ftp://files.example.com/in")
        page.get_by_label("Payload URL").press("Enter")
        expect(page.get_by_text("Give an http:// or https:// URL")).to_be_visible()
        screenshot(page, "webhooks-02-refused")
        page.get_by_label("Payload URL").fill(receiver.url)
        page.get_by_label("Payload URL").press("Enter")
        secret_box = page.get_by_label("Webhook secret")
        expect(secret_box).to_have_value(re.compile(r"^whsec_"))
        expect(secret_box).to_be_focused()
        receiver.secret = secret_box.input_value()
        assert Webhook.objects.get(project=project).secret == receiver.secret
        page.get_by_role("button", name="Copy").click()
        assert page.evaluate("navigator.clipboard.readText()") == receiver.secret
        page.get_by_text("How your receiver checks a call").click()
        expect(page.get_by_text("hmac.compare_digest")).to_be_visible()
        screenshot(page, "webhooks-03-secret-once")
        page.reload()
        expect(page.get_by_label("Webhook secret")).to_have_count(0)
        expect(page.get_by_role("cell", name="none yet")).to_be_visible()

        # --- a ping: the receiver's answer in the log --------------------------------------------
        page.get_by_role("button", name="Send ping").click()
        expect(page.get_by_text("Ping sent")).to_be_visible()
        first = page.locator("tbody.delivery").first
        expect(first.get_by_text("Delivered", exact=True)).to_be_visible()
        expect(first.get_by_role("cell", name="200", exact=True)).to_be_visible()
        assert receiver.count == 1 and receiver.calls[0].verified
        screenshot(page, "webhooks-04-ping")

        # --- a version, delivered at the third attempt; another that fails, redelivered -----------
        receiver.fail_first = receiver.count + 2
        webhooks_emit_version_ready(version=ready_version(project, number=1))
        receiver.fail_first = 10**6
        webhooks_emit_version_ready(version=ready_version(project, number=2))
        page.reload()
        v1 = page.locator("tbody.delivery", has_text="v1 is ready")
        expect(v1.get_by_text("Delivered", exact=True)).to_be_visible()
        expect(v1.get_by_role("cell", name="500", exact=True)).to_have_count(2)
        expect(v1.get_by_text("3 of 4")).to_be_visible()
        v2 = page.locator("tbody.delivery", has_text="v2 is ready")
        expect(v2.get_by_text("Failed", exact=True)).to_be_visible()
        expect(v2.get_by_text("4 of 4")).to_be_visible()
        screenshot(page, "webhooks-05-log")

        receiver.fail_first = 0
        v2.get_by_role("button", name=re.compile("^Redeliver")).click()
        expect(page.get_by_text(re.compile(r"sent again as delivery \d+"))).to_be_visible()
        again = page.locator("tbody.delivery", has_text="redelivery 1")
        expect(again.get_by_text("Delivered", exact=True)).to_be_visible()
        assert receiver.calls[-1].json["version"]["number"] == 2
        screenshot(page, "webhooks-06-redelivered")

        # --- a pending delivery updates by itself when the worker gets to it ----------------------
        webhook = Webhook.objects.get(project=project)
        pending = WebhookDelivery.objects.create(
            webhook=webhook, event="dataset.version.ready", event_id="dataset.version.ready:x",
            payload={"event": "dataset.version.ready", "version": {"label": "v3"}},
        )  # fmt: skip
        page.reload()
        row = page.locator(f"#delivery-{pending.pk}")
        expect(row.get_by_text("Pending", exact=True)).to_be_visible()
        expect(page.get_by_text("Updating while attempts are due")).to_be_visible()
        screenshot(page, "webhooks-07-pending")
        webhook_deliver(delivery_id=pending.pk)
        expect(
            page.locator(f"#delivery-{pending.pk}").get_by_text("Delivered", exact=True)
        ).to_be_visible()
        expect(page.get_by_text("Updating while attempts are due")).to_have_count(0)

    # --- the list, then deactivate and delete --------------------------------------------------
    page.get_by_role("link", name="← All webhooks").click()
    expect(page.get_by_role("cell", name="Active")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"dataset\.version\.ready, "))).to_be_visible()
    screenshot(page, "webhooks-08-list")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("cell", name="Inactive")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    assert not Webhook.objects.filter(project=project).exists()
