"""People and tokens in a real Chromium: alice makes an invitation link on the Members page;
carol, who has no account, opens it, signs up and lands on the labeling page; then she changes
her password from the user menu. alice also makes a pipeline token, archives the project and
finds it behind the filter; a dead link answers its own page. Every new page is screenshotted
under var/screenshots/ so that a person looks at it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from projects.models import Invitation, Membership, Role
from tests.conftest import browser_login, screenshot
from tests.factories import make_items, make_project

pytestmark = pytest.mark.browser
STRONG = "a quiet violet harbour"


def test_a_lead_invites_and_a_new_rater_signs_up_and_labels(
    browser: Any, page: Any, live_server: Any, alice, bob
):
    project = make_project(lead=alice, raters=[bob], name="Product reviews",
                           description="Sentiment of customer reviews from the shop.")  # fmt: skip
    make_items(project, 5)

    # --- alice makes a link for two people -----------------------------------------------------
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    expect(page.get_by_text("No invitation links yet.")).to_be_visible()
    screenshot(page, "people-01-members-no-links")
    invite = page.locator("form[action$='/invitations/']")
    invite.get_by_label("For how many people").fill("2")
    invite.get_by_label("Note").fill("March raters")
    invite.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Copy it now.")).to_be_visible()
    link = page.locator("#new-invitation-url").input_value()
    assert link.startswith(f"{live_server.url}/invite/inv_")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.get_by_text("0 of 2")).to_be_visible()
    screenshot(page, "people-02-members-new-link")

    # --- carol, with no account, opens it in her own browser -----------------------------------
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    carol = context.new_page()
    carol.goto(link)
    expect(carol.get_by_role("heading", name="Join “Product reviews”")).to_be_visible()
    expect(carol.get_by_text("alice invites you to join as a rater")).to_be_visible()
    screenshot(carol, "people-03-invitation-signup")
    carol.get_by_label("Username").fill("carol")
    carol.get_by_label("Password", exact=True).fill("carol")
    carol.get_by_label("Password confirmation").fill("carol")
    carol.get_by_role("button", name="Create account and join").click()
    expect(carol.get_by_text("This password is too short.")).to_be_visible()
    screenshot(carol, "people-04-invitation-signup-errors")
    carol.get_by_label("Password", exact=True).fill(STRONG)
    carol.get_by_label("Password confirmation").fill(STRONG)
    carol.get_by_role("button", name="Create account and join").click()

    carol.wait_for_url(f"**/label/{project.pk}/")
    expect(carol.get_by_text("you joined as a rater")).to_be_visible()
    expect(carol.locator("#lab-item")).to_be_visible()
    screenshot(carol, "people-05-landed-on-labeling")
    assert Membership.objects.get(project=project, user__username="carol").role == Role.RATER

    # --- carol changes her password from the user menu -----------------------------------------
    carol.goto(f"{live_server.url}/")
    carol.locator(".user-menu summary").click()
    screenshot(carol, "people-06-user-menu")
    carol.get_by_role("link", name="Change password").click()
    expect(carol.get_by_role("heading", name="Change your password")).to_be_visible()
    screenshot(carol, "people-07-password-change")
    carol.get_by_label("Old password").fill(STRONG)
    carol.get_by_label("New password", exact=True).fill("an even quieter harbour")
    carol.get_by_label("New password confirmation").fill("an even quieter harbour")
    carol.get_by_role("button", name="Change password").click()
    expect(carol.get_by_role("heading", name="Your password was changed")).to_be_visible()
    screenshot(carol, "people-08-password-changed")
    context.close()

    # --- alice sees who joined, then revokes the link ------------------------------------------
    page.reload()
    expect(page.get_by_text("1 of 2")).to_be_visible()
    expect(page.locator(".joined-list").get_by_text("carol")).to_be_visible()
    screenshot(page, "people-09-members-joined")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("form[action*='/invitations/'][action$='/revoke/'] button").click()
    expect(page.get_by_text("no longer works")).to_be_visible()
    assert Invitation.objects.get().revoked_at is not None
    anonymous = browser.new_context().new_page()
    anonymous.goto(link)
    expect(anonymous.get_by_role("heading", name="This invitation was withdrawn")).to_be_visible()
    screenshot(anonymous, "people-10-invitation-withdrawn")
    anonymous.context.close()

    # --- a pipeline token, then archiving ------------------------------------------------------
    page.get_by_role("link", name="Pipeline tokens").click()
    expect(page.get_by_text("No pipeline tokens yet.")).to_be_visible()
    page.get_by_label("Name").fill("nightly training")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy it now.")).to_be_visible()
    assert page.locator("#new-token-secret").input_value().startswith("acp_")
    screenshot(page, "people-11-pipeline-token-new")
    page.get_by_role("link", name="Settings").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive project").click()
    expect(page.get_by_text("This project is archived").first).to_be_visible()
    screenshot(page, "people-12-settings-archived")
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Show archived (1)")).to_be_visible()
    screenshot(page, "people-13-home-archived-hidden")
    page.get_by_role("link", name="Show archived (1)").click()
    expect(page.get_by_role("heading", name="Archived projects")).to_be_visible()
    screenshot(page, "people-14-home-archived-shown")
