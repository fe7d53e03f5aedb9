"""Scoping the Django admin to what a staff user is responsible for.

Staff and leads enter the admin (config/admin.py), but what they see and edit comes from a scope
that a domain app defines, not from Django's model permissions: `scope_ids(request)` names the
ids of the scope objects (projects, for Accord) the user answers for, and `scope_id_of(obj)`
which one an object belongs to. Superusers keep Django's own rules and see everything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest


def is_superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class ScopedPermissions:
    """View, change and delete what lies in the user's scope."""

    def scope_ids(self, request: HttpRequest) -> frozenset[int]:
        raise NotImplementedError("a scoped admin says which scope ids the user answers for")

    def scope_id_of(self, obj: Any) -> int | None:
        raise NotImplementedError("a scoped admin says which scope an object belongs to")

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        if not request.user.is_active:
            return False
        ids = self.scope_ids(request)
        return bool(ids) and (obj is None or self.scope_id_of(obj) in ids)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return super().has_change_permission(request, obj)  # type: ignore[misc]
        return self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self._may(request, obj)


class ScopedAdmin(ScopedPermissions, admin.ModelAdmin):
    """A model admin showing only the rows in the user's scope. `scope_path` is the lookup from
    the model to its scope object; `scope_model` is that object's model, whose choices (and
    those of models with a `scope_path` field) are narrowed on forms."""

    scope_path = "project"
    scope_model: type[Model] | None = None
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if is_superuser(request):
            return queryset
        return queryset.filter(**{f"{self.scope_path}__in": self.scope_ids(request)})

    def has_module_permission(self, request: HttpRequest) -> bool:
        if is_superuser(request):
            return super().has_module_permission(request)
        return self._may(request, None)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if is_superuser(request):
            return super().has_add_permission(request)
        return self._may(request, None)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if not is_superuser(request) and self.scope_model is not None:
            related = db_field.related_model
            ids = self.scope_ids(request)
            field_name = self.scope_model._meta.model_name
            if related is self.scope_model:
                kwargs["queryset"] = related._default_manager.filter(pk__in=ids)
            elif any(f.name == field_name for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(**{f"{field_name}__in": ids})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedInline(ScopedPermissions, admin.options.InlineModelAdmin):
    """An inline on a scoped page: the user may do to it what they may do to the parent."""

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:  # type: ignore[override]
        if is_superuser(request):
            return super().has_add_permission(request, obj)
        return self._may(request, obj)


class ReadOnlyAdminMixin:
    """Rows written only by services: viewable (and, where said, deletable), never edited."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoDeleteMixin:
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ArchivedListFilter(admin.SimpleListFilter):
    """Archived rows (a set `archived_at`) leave the changelist unless asked for, as on the site
    and in the API (`?archived=true` or `all`)."""

    title, parameter_name = "state", "archived"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("true", "Archived"), ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "display": "Active",
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }
        yield from list(super().choices(changelist))[1:]  # Django's own "All" means no filter

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "all":
            return queryset
        return queryset.filter(archived_at__isnull=self.value() != "true")
