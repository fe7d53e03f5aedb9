"""Invitation links. A lead creates and revokes them on the project's Members page; whoever
opens a link joins the project with its role: signed in, with one button; new, by choosing a
username and a password. A link that no longer works says why on a page of its own."""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling.forms import InvitationForm, SignupForm
from labeling.invitations import (
    AlreadyMember,
    InvitationClosed,
    Joined,
    invitation_accept,
    invitation_open,
    invitation_signup,
)
from labeling.views.members import NEW_INVITATION_SESSION_KEY, members_page
from projects.models import Invitation, Membership, Role
from projects.services.invitations import invitation_create, invitation_revoke
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for

# --- the lead's side, on the Members page -----------------------------------------------------


@login_required
@require_POST
def project_invitation_create(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Create a link and show it once: kept in the session until the Members page that shows it
    has been rendered (post, redirect, get: a reload does not create another)."""
    access = project_for(request, pk)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, secret = invitation_create(
                project=access.project, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            url = request.build_absolute_uri(reverse("invitation", kwargs={"secret": secret}))
            request.session[NEW_INVITATION_SESSION_KEY] = {
                "id": invitation.pk, "project": access.project.pk, "url": url,
                "role": invitation.get_role_display().lower(), "max_uses": invitation.max_uses,
            }  # fmt: skip
            return redirect("project-members", pk=pk)
    return members_page(request, access, invite_form=form)


@login_required
@require_POST
def project_invitation_revoke(
    request: AuthenticatedRequest, pk: int, invitation_id: int
) -> HttpResponse:
    access = project_for(request, pk)
    invitation = get_object_or_404(Invitation, pk=invitation_id, project=access.project)
    invitation_revoke(invitation=invitation)
    messages.success(request, f"The link {invitation.prefix}… no longer works; who joined stays.")
    return redirect("project-members", pk=pk)


# --- the invited person's side ----------------------------------------------------------------


def invitation(request: HttpRequest, secret: str) -> HttpResponse:
    """The link's page: join (signed in) or sign up and join (not signed in)."""
    try:
        invitation = invitation_open(secret=secret)
    except InvitationClosed as closed:
        return _closed(request, closed)
    if request.user.is_authenticated:
        return _join(request, secret, invitation)  # type: ignore[arg-type]
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            joined = invitation_signup(
                secret=secret,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except InvitationClosed as closed:
            return _closed(request, closed)
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            login(request, joined.user)
            return _welcome(request, joined)
    return _page(request, "labeling/invitation.html", {"invitation": invitation, "form": form})


def _join(request: AuthenticatedRequest, secret: str, invitation: Invitation) -> HttpResponse:
    user = request.user
    member = Membership.objects.filter(project=invitation.project, user=user).first()
    if request.method == "POST":
        try:
            joined = invitation_accept(secret=secret, user=user)
        except AlreadyMember:
            return redirect("project-detail", pk=invitation.project_id)
        except InvitationClosed as closed:
            return _closed(request, closed)
        return _welcome(request, joined)
    context = {"invitation": invitation, "member": member}
    return _page(request, "labeling/invitation.html", context)


def _welcome(request: HttpRequest, joined: Joined) -> HttpResponse:
    """A rater lands on the labeling page, a lead on the project's overview."""
    membership = joined.membership
    role = membership.get_role_display().lower()
    messages.success(request, f"Welcome to “{membership.project.name}”: you joined as a {role}.")
    if membership.role == Role.RATER:
        return redirect("label", project_id=membership.project_id)
    return redirect("project-detail", pk=membership.project_id)


def _closed(request: HttpRequest, closed: InvitationClosed) -> HttpResponse:
    status = 404 if closed.reason == "unknown" else 410
    context = {"closed": closed, "invitation": closed.invitation}
    return _page(request, "labeling/invitation_closed.html", context, status=status)


def _page(
    request: HttpRequest, template: str, context: Mapping[str, object], status: int = 200
) -> HttpResponse:
    response = render(request, template, dict(context), status=status)
    response["Cache-Control"] = "no-store"  # the page's address is the secret
    return response
