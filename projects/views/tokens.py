"""API tokens: the caller's personal ones, and a project's pipeline tokens (a lead's page)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects.forms import ProjectTokenForm, TokenCreateForm
from projects.models import ApiToken, Role
from projects.services.tokens import api_token_create, api_token_revoke, project_token_create
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for

NEW_TOKEN_SESSION_KEY = "accord_new_token"
NEW_PROJECT_TOKEN_SESSION_KEY = "accord_new_project_token"


# --- API tokens --------------------------------------------------------------------------------


@login_required
def tokens(request: AuthenticatedRequest) -> HttpResponse:
    """The user's API tokens. A new token's secret is kept in the session only until the page
    that shows it once has been rendered (post, redirect, get: a reload does not create another)."""
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "secret": secret}
            return redirect("tokens")
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    response = render(
        request,
        "projects/tokens.html",
        {
            "form": form,
            "tokens": ApiToken.objects.filter(user=request.user, project=None),
            "new_token": new_token,
            "api_base": request.build_absolute_uri(reverse("api-schema")).rsplit("/api/", 1)[0],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user, project=None)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” was revoked; requests that use it now fail.")
    return redirect("tokens")


# --- a project's pipeline tokens ---------------------------------------------------------------


@login_required
def project_tokens(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """A project's pipeline tokens (leads only). A new token's secret is shown once, as on the
    personal tokens page. A token whose creator no longer leads the project (or whose account
    was deactivated) is shown as stopped: authentication refuses it."""
    access = project_for(request, pk)
    project = access.project
    form = ProjectTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = project_token_create(
                project=project, created_by=request.user, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )  # fmt: skip
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            request.session[NEW_PROJECT_TOKEN_SESSION_KEY] = {
                "id": token.pk, "project": project.pk, "secret": secret
            }  # fmt: skip
            return redirect("project-tokens", pk=pk)
    new_token = request.session.pop(NEW_PROJECT_TOKEN_SESSION_KEY, None)
    if new_token and new_token.get("project") != project.pk:
        new_token = None
    tokens = list(ApiToken.objects.filter(project=project).select_related("user"))
    leads = set(project.memberships.filter(role=Role.LEAD).values_list("user_id", flat=True))
    for token in tokens:
        creator = token.user
        token.works = creator.is_active and (creator.is_superuser or creator.pk in leads)  # type: ignore[attr-defined]
    response = render(
        request,
        "projects/project_tokens.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "tokens": tokens,
            "new_token": new_token,
            "active_tab": "tokens",
            "api_base": request.build_absolute_uri(reverse("api-schema")).rsplit("/api/", 1)[0],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def project_token_revoke(request: AuthenticatedRequest, pk: int, token_id: int) -> HttpResponse:
    access = project_for(request, pk)
    token = get_object_or_404(ApiToken, pk=token_id, project=access.project)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” was revoked; pipelines that use it now fail.")
    return redirect("project-tokens", pk=pk)
