"""Who enters the Django admin: staff, as Django has it, and every lead, staff or not (the
conflict queue is there). alice leads a project and is not staff; bob only rates in it; root is
a superuser."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory, make_project

PASSWORD = "a long enough password 42"


@pytest.fixture
def project(alice, bob):
    return make_project(lead=alice, raters=[bob])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_lead_who_is_not_staff_opens_the_conflict_queue(project, alice):
    assert not alice.is_staff

    index = logged_in(alice).get("/admin/")
    queue = logged_in(alice).get("/admin/agreement/conflict/")

    assert index.status_code == 200
    assert "Conflicts" in index.content.decode()
    assert queue.status_code == 200


def test_a_lead_sees_no_admin_of_accounts_or_groups(project, alice):
    index = logged_in(alice).get("/admin/").content.decode()

    assert "/admin/auth/group/" not in index
    assert logged_in(alice).get("/admin/auth/group/").status_code == 403


def test_a_rater_who_is_not_staff_is_sent_to_the_login(project, bob):
    response = logged_in(bob).get("/admin/agreement/conflict/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_login_lets_a_lead_in_and_tells_a_rater_why_not(project, alice, bob):
    for user in (alice, bob):
        user.set_password(PASSWORD)
        user.save()

    lead = Client().post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD})
    rater = Client().post("/admin/login/", {"username": "bob", "password": PASSWORD})

    assert lead.status_code == 302 and lead["Location"] == "/admin/"
    assert rater.status_code == 200
    assert "neither leads a project nor is staff" in rater.content.decode()


def test_a_superuser_still_sees_everything(project):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)

    assert logged_in(root).get("/admin/auth/user/").status_code == 200
