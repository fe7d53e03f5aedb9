"""The Django admin for API tokens: superusers only. A lead sees a project's pipeline tokens on
the project's Pipeline tokens page, and everyone their personal tokens on the API tokens page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import is_superuser
from projects.models import ApiToken
from projects.services.tokens import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """The secret is never stored; the hash is not shown either."""

    list_display = ["name", "user", "project", "scopes", "prefix", "created_at", "last_used_at",
                    "revoked_at"]  # fmt: skip
    list_filter = [("revoked_at", admin.EmptyFieldListFilter),
                   ("project", admin.EmptyFieldListFilter)]  # fmt: skip
    search_fields = ["name", "user__username", "prefix"]
    fields = readonly_fields = ("user", "project", "scopes", "name", "prefix", "created_at",
                                "last_used_at", "revoked_at")  # fmt: skip
    list_select_related = ["user", "project"]
    actions = ["revoke"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token's secret is made and shown once by the tokens page or API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps who used what, and when

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.order_by("pk"):
            api_token_revoke(token=token)
        self.message_user(request, "Revoked.")
