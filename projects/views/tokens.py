"""The caller's personal API tokens."""

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

from projects.forms import TokenCreateForm
from projects.models import ApiToken
from projects.services.tokens import api_token_create, api_token_revoke
from projects.views.access import AuthenticatedRequest, apply_service_error

NEW_TOKEN_SESSION_KEY = "accord_new_token"


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
            "tokens": ApiToken.objects.filter(user=request.user),
            "new_token": new_token,
            "api_base": request.build_absolute_uri(reverse("api-schema")).rsplit("/api/", 1)[0],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” was revoked; requests that use it now fail.")
    return redirect("tokens")
