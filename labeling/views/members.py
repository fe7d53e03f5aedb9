"""A project's members: add by username, change a role, remove (giving back what they hold), and
the invitation links that bring new people in (labeling/views/invitations.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from labeling.forms import InvitationForm
from labeling.members import membership_remove, membership_set
from projects.forms import MemberAddForm, MemberRoleForm
from projects.models import Membership, Role
from projects.views.access import (
    AuthenticatedRequest,
    ProjectAccess,
    apply_service_error,
    project_for,
)

NEW_INVITATION_SESSION_KEY = "accord_new_invitation"
INVITATIONS_SHOWN = 20

# --- members -----------------------------------------------------------------------------------


@login_required
def project_members(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        existing = project.memberships.filter(user=user).first() if user else None
        if user is None:
            form.add_error(
                "username",
                f"There is no user named “{username}”. To bring in someone new, send them an "
                "invitation link.",
            )
        elif existing is not None:
            form.add_error(
                "username",
                f"{username} is already a {existing.get_role_display().lower()} here; "
                "change their role in the list.",
            )
        else:
            try:
                membership_set(project=project, user=user, role=form.cleaned_data["role"])
            except ValidationError as error:
                for message in apply_service_error(form, error):
                    form.add_error(None, message)
            else:
                role = Role(form.cleaned_data["role"]).label.lower()
                messages.success(request, f"{username} joined as a {role}.")
                return redirect("project-members", pk=project.pk)
    return members_page(request, access, form=form)


def members_page(
    request: AuthenticatedRequest, access: ProjectAccess, *, form: MemberAddForm | None = None,
    invite_form: InvitationForm | None = None,
) -> HttpResponse:  # fmt: skip
    """The Members page: the members, the invitation links (a new one's link shown once, as
    kept in the session by `project_invitation_create`), and the forms to add and invite."""
    project = access.project
    # External raters (named in imported files) after the people who sign in.
    memberships = project.memberships.select_related("user").order_by(
        "is_external", "role", "user__username"
    )
    new_invitation = request.session.pop(NEW_INVITATION_SESSION_KEY, None)
    if new_invitation and new_invitation.get("project") != project.pk:
        new_invitation = None
    invitations = list(
        project.invitations.select_related("created_by")
        .prefetch_related("acceptances__user")
        .order_by("-created_at", "-id")[:INVITATIONS_SHOWN]
    )
    response = render(
        request,
        "labeling/members.html",
        {
            "access": access,
            "project": project,
            "form": form or MemberAddForm(),
            "invite_form": invite_form or InvitationForm(),
            "memberships": memberships,
            "invitations": invitations,
            "new_invitation": new_invitation,
            "now": timezone.now(),
            "roles": Role.choices,
            "active_tab": "members",
        },
    )
    response["Cache-Control"] = "no-store"  # a new link is on it once
    return response


@login_required
@require_POST
def project_member_role(request: AuthenticatedRequest, pk: int, membership_id: int) -> HttpResponse:
    access = project_for(request, pk)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, project=access.project
    )
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: lead or rater.")
        return redirect("project-members", pk=pk)
    try:
        membership_set(project=access.project, user=membership.user, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project-members", pk=pk)
    role = Role(form.cleaned_data["role"]).label.lower()
    messages.success(request, f"{membership.user.username} is now a {role}.")
    if membership.user_id == request.user.pk and form.cleaned_data["role"] != Role.LEAD:
        return redirect("project-detail", pk=pk)
    return redirect("project-members", pk=pk)


@login_required
@require_POST
def project_member_remove(
    request: AuthenticatedRequest, pk: int, membership_id: int
) -> HttpResponse:
    access = project_for(request, pk)
    membership = get_object_or_404(
        Membership.objects.select_related("user", "project"),
        pk=membership_id,
        project=access.project,
    )
    username = membership.user.username
    try:
        membership_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project-members", pk=pk)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left “{access.project.name}”.")
        return redirect("home")
    messages.success(request, f"{username} was removed from the project.")
    return redirect("project-members", pk=pk)
