"""Invitation links: alice (a lead) makes them; carol, who has no account yet, signs up through one
and lands on the labeling page; bob, who rates already, is told so; mallory, who leads another
project, joins only with a link. Links expire, are revoked, and are used up, one use at a time
even when many people accept at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from labeling.invitations import (
    AlreadyMember,
    InvitationClosed,
    invitation_accept,
    invitation_signup,
)
from labeling.views.members import NEW_INVITATION_SESSION_KEY
from projects.models import Invitation, InvitationAcceptance, Membership, Role
from projects.services.archive import project_archive
from projects.services.invitations import invitation_create, invitation_revoke
from tests.api_clients import session_client, token_client
from tests.factories import UserFactory, make_items, make_project
from tests.labeling.test_assignment_concurrency import run_together
from tests.projects.test_api import API, assert_error

User = get_user_model()
STRONG = "a quiet violet harbour"


@pytest.fixture
def sentiment(alice, bob):
    """alice's project, where bob rates and carol is not (yet) a member."""
    return make_project(lead=alice, raters=[bob], name="Sentiment")


def invite(project: Any, lead: Any, **kwargs: Any) -> tuple[Invitation, str]:
    return invitation_create(project=project, created_by=lead, **kwargs)


# --- the services ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_carol_signs_up_through_a_link_and_joins_with_its_role(sentiment, alice):
    invitation, secret = invite(sentiment, alice)
    assert secret.startswith("inv_") and secret not in str(Invitation.objects.values())
    joined = invitation_signup(secret=secret, username="carol", password=STRONG)
    assert joined.created_account and joined.user.check_password(STRONG)
    assert joined.membership.role == Role.RATER and joined.membership.project == sentiment
    invitation.refresh_from_db()
    assert (invitation.use_count, invitation.state()) == (1, "used")
    acceptance = InvitationAcceptance.objects.get()
    assert (acceptance.user.username, acceptance.created_account) == ("carol", True)
    with pytest.raises(InvitationClosed) as closed:
        invitation_signup(secret=secret, username="dave", password=STRONG)
    assert closed.value.reason == "used"
    assert not User.objects.filter(username="dave").exists(), "a used link makes no account"


@pytest.mark.django_db
def test_a_signup_is_refused_whole_with_the_validators_messages(sentiment, alice, bob):
    _, secret = invite(sentiment, alice)
    with pytest.raises(ValidationError) as refused:
        invitation_signup(secret=secret, username="Bob", password="12345678")
    errors = refused.value.message_dict
    assert "already exists" in errors["username"][0]
    assert any("too common" in m for m in errors["password"])
    with pytest.raises(ValidationError) as refused:
        invitation_signup(secret=secret, username="new one!", password="password")
    assert {"username", "password"} <= set(refused.value.message_dict)
    assert Invitation.objects.get().use_count == 0


@pytest.mark.django_db
def test_a_link_for_three_people_lets_three_join_each_once(sentiment, alice, mallory):
    invitation, secret = invite(sentiment, alice, max_uses=3, role=Role.LEAD)
    joined = invitation_accept(secret=secret, user=mallory)
    assert joined.membership.role == Role.LEAD and not joined.created_account
    with pytest.raises(AlreadyMember):
        invitation_accept(secret=secret, user=mallory)
    Membership.objects.filter(user=mallory, project=sentiment).delete()
    with pytest.raises(InvitationClosed) as closed:  # removed by a lead: not back by the same link
        invitation_accept(secret=secret, user=mallory)
    assert closed.value.reason == "yours"
    for name in ("erin", "frank"):
        invitation_signup(secret=secret, username=name, password=STRONG)
    invitation.refresh_from_db()
    assert (invitation.use_count, invitation.uses_left, invitation.state()) == (3, 0, "used")


@pytest.mark.django_db
def test_bob_who_rates_already_spends_no_use_and_keeps_his_role(sentiment, alice, bob):
    invitation, secret = invite(sentiment, alice, role=Role.LEAD)
    with pytest.raises(AlreadyMember, match="already a rater"):
        invitation_accept(secret=secret, user=bob)
    invitation.refresh_from_db()
    assert invitation.use_count == 0
    assert Membership.objects.get(project=sentiment, user=bob).role == Role.RATER


@pytest.mark.django_db
def test_revoked_expired_and_archived_links_say_why(sentiment, alice, carol):
    revoked, revoked_secret = invite(sentiment, alice)
    invitation_revoke(invitation=revoked)
    expired, expired_secret = invite(sentiment, alice)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    _, archived_secret = invite(sentiment, alice)
    for secret, reason in ((revoked_secret, "revoked"), (expired_secret, "expired"),
                           ("inv_nonsense", "unknown")):  # fmt: skip
        with pytest.raises(InvitationClosed) as closed:
            invitation_accept(secret=secret, user=carol)
        assert closed.value.reason == reason
    project_archive(project=sentiment)
    with pytest.raises(InvitationClosed) as closed:
        invitation_accept(secret=archived_secret, user=carol)
    assert closed.value.reason == "archived"
    assert not InvitationAcceptance.objects.exists()


@pytest.mark.django_db
def test_invitations_are_checked_when_made(sentiment, alice):
    for bad in ({"max_uses": 0}, {"max_uses": 1001}, {"expires_in_days": 0},
                {"expires_in_days": 91}, {"role": "owner"}):  # fmt: skip
        with pytest.raises(ValidationError):
            invite(sentiment, alice, **bad)
    project_archive(project=sentiment)
    with pytest.raises(ValidationError, match="archived"):
        invite(sentiment, alice)


@pytest.mark.django_db(transaction=True)
def test_six_people_accepting_a_link_for_two_at_once_leave_two_members(alice):
    """The last use is taken by a conditional update: whoever's update counts a row won."""
    project = make_project(lead=alice, name="Race")
    invitation, secret = invite(project, alice, max_uses=2)
    people = [UserFactory(username=f"person{n}") for n in range(6)]
    results = run_together(*[
        (lambda person=person: invitation_accept(secret=secret, user=person))
        for person in people
    ])  # fmt: skip
    joined = [r for r in results if not isinstance(r, BaseException)]
    closed = [r for r in results if isinstance(r, InvitationClosed)]
    assert (len(joined), len(closed)) == (2, 4), results
    assert {c.reason for c in closed} == {"used"}
    invitation.refresh_from_db()
    assert invitation.use_count == 2
    assert Membership.objects.filter(project=project, role=Role.RATER).count() == 2
    assert InvitationAcceptance.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_three_sign_ups_racing_for_a_single_use_link_make_one_account(alice):
    project = make_project(lead=alice, name="Race")
    _, secret = invite(project, alice)
    results = run_together(*[
        (lambda name=name: invitation_signup(secret=secret, username=name, password=STRONG))
        for name in ("xavier", "yvonne", "zoe")
    ])  # fmt: skip
    assert sum(not isinstance(r, BaseException) for r in results) == 1, results
    assert all(isinstance(r, InvitationClosed) for r in results if isinstance(r, BaseException))
    assert User.objects.filter(username__in=["xavier", "yvonne", "zoe"]).count() == 1


# --- the pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_alice_makes_a_link_on_the_members_page_and_sees_it_once(sentiment, alice):
    page = Client()
    page.force_login(alice)
    members = f"/projects/{sentiment.pk}/members/"
    response = page.post(
        f"/projects/{sentiment.pk}/invitations/",
        {"role": "rater", "max_uses": 5, "expires_in_days": 7, "note": "March raters"},
    )
    assert response.status_code == 302 and response["Location"] == members
    shown = page.get(members)
    url = shown.context["new_invitation"]["url"]
    assert url.startswith("http://testserver/invite/inv_") and url in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    again = page.get(members).content.decode()
    assert url not in again and "March raters" in again and "0 of 5" in again
    invitation = Invitation.objects.get()
    assert (invitation.max_uses, invitation.note, invitation.created_by) == (5, "March raters",
                                                                             alice)  # fmt: skip
    bad = page.post(f"/projects/{sentiment.pk}/invitations/", {"role": "rater", "max_uses": 0,
                                                               "expires_in_days": 7})  # fmt: skip
    assert bad.status_code == 200 and bad.context["invite_form"].errors["max_uses"]
    revoked = page.post(f"/projects/{sentiment.pk}/invitations/{invitation.pk}/revoke/")
    assert revoked.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state() == "revoked"


@pytest.mark.django_db
def test_carol_opens_the_link_signs_up_and_lands_on_the_labeling_page(sentiment, alice):
    make_items(sentiment, 2)
    _, secret = invite(sentiment, alice)
    browser = Client()
    page = browser.get(f"/invite/{secret}/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert "Join “Sentiment”" in html and "alice" in html and "Create your account" in html
    weak = browser.post(
        f"/invite/{secret}/", {"username": "carol", "password1": "carol", "password2": "carol"}
    )
    assert weak.status_code == 200 and weak.context["form"].errors["password2"]  # fmt: skip
    response = browser.post(
        f"/invite/{secret}/", {"username": "carol", "password1": STRONG, "password2": STRONG}
    )
    assert response.status_code == 302 and response["Location"] == f"/label/{sentiment.pk}/"
    landed = browser.get(response["Location"])
    assert landed.status_code == 200 and "you joined as a rater" in landed.content.decode()
    assert Membership.objects.get(user__username="carol", project=sentiment).role == Role.RATER
    closed = Client().get(f"/invite/{secret}/")
    assert closed.status_code == 410 and "has been used" in closed.content.decode()


@pytest.mark.django_db
def test_mallory_signed_in_joins_with_one_button_and_bob_is_told_he_is_in(sentiment, alice, bob,
                                                                          mallory):  # fmt: skip
    _, secret = invite(sentiment, alice, max_uses=2, role=Role.LEAD)
    as_mallory = Client()
    as_mallory.force_login(mallory)
    page = as_mallory.get(f"/invite/{secret}/").content.decode()
    assert "Join as mallory" in page and "Create your account" not in page
    response = as_mallory.post(f"/invite/{secret}/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{sentiment.pk}/"
    assert Membership.objects.get(user=mallory, project=sentiment).role == Role.LEAD
    as_bob = Client()
    as_bob.force_login(bob)
    assert "already a rater" in as_bob.get(f"/invite/{secret}/").content.decode()
    assert as_bob.post(f"/invite/{secret}/").status_code == 302
    assert Invitation.objects.get().use_count == 1


@pytest.mark.django_db
def test_a_dead_link_answers_a_clear_page(sentiment, alice):
    invitation, secret = invite(sentiment, alice)
    unknown = Client().get("/invite/inv_not-a-real-link/")
    assert unknown.status_code == 404 and "This link does not work" in unknown.content.decode()
    invitation_revoke(invitation=invitation)
    revoked = Client().get(f"/invite/{secret}/").content.decode()
    assert "This invitation was withdrawn" in revoked and "Ask a lead of “Sentiment”" in revoked
    _, secret = invite(sentiment, alice)
    Invitation.objects.filter(key_hash__isnull=False).update(expires_at=timezone.now())
    expired = Client().get(f"/invite/{secret}/")
    assert expired.status_code == 410 and "has expired" in expired.content.decode()


@pytest.mark.django_db
def test_the_login_link_of_an_invitation_comes_back_to_it(sentiment, alice, mallory):
    _, secret = invite(sentiment, alice)
    page = Client().get(f"/invite/{secret}/").content.decode()
    assert f"/accounts/login/?next=/invite/{secret}/" in page


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_alice_makes_lists_and_revokes_links_over_the_api(sentiment, alice, bob):
    api = session_client(alice)
    url = f"{API}/projects/{sentiment.pk}/invitations/"
    created = api.post(url, {"role": "rater", "max_uses": 2, "expires_in_days": 3}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"].startswith("http://testserver/invite/inv_") and body["state"] == "active"
    secret = body["url"].rstrip("/").rsplit("/", 1)[1]
    invitation_signup(secret=secret, username="carol", password=STRONG)
    listed = api.get(url).json()["results"]
    assert "url" not in listed[0] and listed[0]["use_count"] == 1
    assert listed[0]["acceptances"][0]["user"] == "carol"
    assert api.delete(f"{url}{body['id']}/").status_code == 204
    assert api.get(f"{url}{body['id']}/").json()["state"] == "revoked"
    assert_error(session_client(bob).get(url), 403)
    refused = token_client(alice).post(url, {"role": "lead"}, format="json")
    assert_error(refused, 403, message="cannot create tokens or invitation links")


@pytest.mark.django_db
def test_the_members_page_keeps_a_new_link_to_its_own_project(sentiment, alice):
    other = make_project(lead=alice, name="Other")
    page = Client()
    page.force_login(alice)
    session = page.session
    session[NEW_INVITATION_SESSION_KEY] = {"id": 1, "project": sentiment.pk, "url": "x"}
    session.save()
    assert page.get(f"/projects/{other.pk}/members/").context["new_invitation"] is None
