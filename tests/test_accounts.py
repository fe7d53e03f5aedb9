"""Accounts: people change their own password; staff manage users in the Django admin.

alice leads `project` and is staff (leads enter the admin), bob and carol rate in it, mallory
leads a project of her own and is staff too, root is a superuser. A staff lead manages only the
accounts they answer for, and no form of the admin lets them grant a privilege to anyone.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from labeling.assignment import item_claim
from labeling.lead_assignment import items_assign
from labeling.members import membership_set
from labeling.models import Assignment
from projects.models import Project, Role
from projects.services.tokens import api_token_create
from tests.api_clients import secret_client
from tests.factories import UserFactory, make_items

pytestmark = pytest.mark.django_db
STRONG = "a quiet violet harbour"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(alice, mallory) -> None:
    for user in (alice, mallory):
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@pytest.fixture
def root(db) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


# --- your own password -------------------------------------------------------------------------


def test_bob_changes_his_password_from_the_user_menu(project, bob):
    client = signed_in(bob)
    home = client.get("/").content.decode()
    assert 'href="/accounts/password/"' in home and "Change password" in home
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    weak = client.post("/accounts/password/", {"old_password": "pw", "new_password1": "bob12345",
                                               "new_password2": "bob12345"})  # fmt: skip
    assert weak.status_code == 200 and weak.context["form"].errors["new_password2"]
    wrong = client.post("/accounts/password/", {"old_password": "nope", "new_password1": STRONG,
                                                "new_password2": STRONG})  # fmt: skip
    assert wrong.context["form"].errors["old_password"]
    done = client.post("/accounts/password/", {"old_password": "pw", "new_password1": STRONG,
                                               "new_password2": STRONG})  # fmt: skip
    assert done["Location"] == "/accounts/password/done/"
    assert client.get("/").status_code == 200, "still signed in here"
    bob.refresh_from_db()
    assert bob.check_password(STRONG)
    assert Client().login(username="bob", password=STRONG)


def test_the_password_pages_need_a_signed_in_user():
    response = Client().get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the admin's user pages for a superuser ----------------------------------------------------


def test_root_creates_a_user_sets_a_password_and_deactivates_them(project, root, bob):
    admin = signed_in(root)
    assert admin.get("/admin/auth/user/").status_code == 200
    assert admin.get("/admin/auth/user/add/").status_code == 200
    created = admin.post(
        "/admin/auth/user/add/",
        {"username": "dave", "usable_password": "true", "password1": STRONG,
         "password2": STRONG},
    )  # fmt: skip
    assert created.status_code == 302, created.context["adminform"].form.errors
    dave = type(bob).objects.get(username="dave")
    assert dave.check_password(STRONG)
    change = admin.get(f"/admin/auth/user/{dave.pk}/change/")
    assert change.status_code == 200 and "is_superuser" in change.content.decode()
    assert admin.get(f"/admin/auth/user/{dave.pk}/password/").status_code == 200
    reset = admin.post(
        f"/admin/auth/user/{dave.pk}/password/",
        {"usable_password": "true", "password1": "another quiet harbour",
         "password2": "another quiet harbour"},
    )  # fmt: skip
    assert reset.status_code == 302
    dave.refresh_from_db()
    assert dave.check_password("another quiet harbour")
    admin.post("/admin/auth/user/", {"action": "deactivate", "_selected_action": [bob.pk]})
    bob.refresh_from_db()
    assert not bob.is_active


# --- a staff lead ------------------------------------------------------------------------------


def test_alice_sees_only_the_accounts_she_answers_for(project, staff, alice, bob, carol, mallory,
                                                      root):  # fmt: skip
    theirs = Project.objects.get(name="Mallory's own project")
    membership_set(project=theirs, user=carol, role=Role.RATER)  # carol is shared with mallory
    UserFactory(username="loner")  # in no project
    admin = signed_in(alice)
    listed = admin.get("/admin/auth/user/")
    assert listed.status_code == 200
    assert [u.username for u in listed.context["cl"].result_list] == ["bob"]
    for user in (alice, carol, mallory, root):
        response = admin.get(f"/admin/auth/user/{user.pk}/change/")
        assert response.status_code in (302, 403), user  # Django's admin: redirect or refusal
        assert admin.get(f"/admin/auth/user/{user.pk}/password/").status_code in (403, 404)
    assert admin.get("/admin/auth/user/add/").status_code == 403
    assert admin.get("/admin/auth/group/").status_code == 403


def test_alice_cannot_grant_a_privilege_whatever_permissions_she_was_given(
    project, staff, alice, bob
):
    # Even with Django's user permissions (which, in Django's own admin, would let her edit
    # is_superuser, her own included), the forms carry no privilege field.
    alice.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_user", "change_user", "delete_user"])
    )
    admin = signed_in(alice)
    page = admin.get(f"/admin/auth/user/{bob.pk}/change/").content.decode()
    assert "is_superuser" not in page and "is_staff" not in page and "user_permissions" not in page
    response = admin.post(
        f"/admin/auth/user/{bob.pk}/change/",
        {"first_name": "Bob", "last_name": "Rater", "email": "bob@example.com",
         "is_active": "on", "is_staff": "on", "is_superuser": "on",
         "user_permissions": [p.pk for p in Permission.objects.all()[:3]],
         "username": "root2"},
    )  # fmt: skip
    assert response.status_code == 302
    bob.refresh_from_db()
    assert (bob.first_name, bob.username, bob.is_staff, bob.is_superuser) == (
        "Bob",
        "bob",
        False,
        False,
    )
    assert not bob.user_permissions.exists()
    assert admin.post(
        f"/admin/auth/user/{alice.pk}/change/", {"is_superuser": "on", "is_active": "on"}
    ).status_code in (302, 403)
    assert admin.get("/admin/auth/user/add/").status_code == 403
    assert admin.post(f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"}).status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser
    assert type(bob).objects.filter(pk=bob.pk).exists()


def test_alice_resets_bobs_password_and_deactivates_him_giving_back_his_items(
    project, staff, alice, bob, carol
):  # fmt: skip
    items = make_items(project, 4)
    item_claim(project=project, rater=bob)
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[items[3].pk])
    _, secret = api_token_create(user=bob, name="laptop")
    admin = signed_in(alice)
    reset = admin.post(
        f"/admin/auth/user/{bob.pk}/password/",
        {"usable_password": "true", "password1": STRONG, "password2": STRONG},
    )
    assert reset.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password(STRONG)
    deactivated = admin.post(
        f"/admin/auth/user/{bob.pk}/change/",
        {"first_name": "", "last_name": "", "email": bob.email},  # is_active unticked
    )
    assert deactivated.status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    assert not Assignment.objects.filter(rater=bob, status__in=["leased", "assigned"]).exists()
    assert sum(project.items.values_list("slots_taken", flat=True)) == 0
    assert secret_client(secret).get("/api/v1/me/").status_code == 401
    assert not Client().login(username="bob", password=STRONG)
