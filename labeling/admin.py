"""The Django admin for assignments and annotations: read-only, scoped like `projects/admin.py`
(a staff lead sees the rows of the projects they lead; superusers see all).

Both are written only by `labeling.assignment` and `labeling.services`, which keep the items'
slot and annotation counts right; an annotation is the unit of lineage and keeps every value it
held as a revision. So nobody edits or deletes them here.

Members and user accounts are here too: removing a member, or deactivating an account, gives
back the items they hold.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from core.admin import NoDeleteMixin, ReadOnlyAdminMixin, is_superuser
from core.jobs.models import JobStatus
from labeling.imports import annotation_import_retry
from labeling.members import membership_remove, user_deactivate
from labeling.models import Annotation, AnnotationImportJob, AnnotationRevision, Assignment
from labeling.selectors import annotation_gold_correct
from projects.admin import (
    LeadProjectFilter,
    ProjectScopedAdmin,
    ProjectScopedInline,
    led_project_ids,
)
from projects.models import Membership, Role


@admin.register(Assignment)
class AssignmentAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    list_display = ["item", "rater", "status", "expires_at", "assigned_by", "is_gold",
                    "updated_at"]  # fmt: skip
    list_filter = ["status", "is_gold", ("project", LeadProjectFilter)]
    search_fields = ["item__key", "rater__username"]
    list_select_related = ["item", "rater", "assigned_by"]
    raw_id_fields = ["item", "rater", "assigned_by"]
    show_full_result_count = False


class AnnotationRevisionInline(
    NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedInline, admin.TabularInline
):
    model = AnnotationRevision
    fields = ["revision", "value", "client_id", "time_spent_ms", "created_at"]
    readonly_fields = ["revision", "value", "client_id", "time_spent_ms", "created_at"]
    extra = 0
    can_delete = False


@admin.register(Annotation)
class AnnotationAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    inlines = [AnnotationRevisionInline]
    list_display = ["item", "rater", "shown_value", "revision", "gold_result", "time_spent_ms",
                    "updated_at"]  # fmt: skip
    list_filter = [("project", LeadProjectFilter)]
    fields = ["project", "item", "rater", "shown_value", "gold_result", "revision", "client_id",
              "time_spent_ms", "created_at", "updated_at"]  # fmt: skip
    readonly_fields = ["project", "item", "rater", "shown_value", "gold_result", "revision",
                       "client_id", "time_spent_ms", "created_at", "updated_at"]  # fmt: skip
    search_fields = ["item__key", "rater__username"]
    list_select_related = ["item", "rater", "label"]
    raw_id_fields = ["item", "rater"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Annotation]:
        return super().get_queryset(request).prefetch_related("chosen__label")

    @admin.display(description="value")
    def shown_value(self, annotation: Annotation) -> str:
        value = annotation.value
        return ", ".join(value) if isinstance(value, list) else str(value)

    @admin.display(description="gold", boolean=True)
    def gold_result(self, annotation: Annotation) -> bool | None:
        """Right or wrong against the item's current gold answer; empty for a regular item."""
        return annotation_gold_correct(annotation)


@admin.register(AnnotationImportJob)
class AnnotationImportJobAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    list_display = ["id", "original_name", "project", "status", "progress", "total",
                    "created_count", "changed_count", "unchanged_count", "external_rater_count",
                    "error_count", "created_by", "created_at"]  # fmt: skip
    list_filter = ["status", "source", ("project", LeadProjectFilter)]
    search_fields = ["original_name"]
    list_select_related = ["project", "created_by"]
    actions = ["retry"]

    @admin.action(description="Retry the selected failed annotation imports")
    def retry(self, request: HttpRequest, queryset: QuerySet[AnnotationImportJob]) -> None:
        retried = 0
        for job in queryset.filter(status=JobStatus.FAILED).order_by("pk"):
            try:
                annotation_import_retry(job=job)
                retried += 1
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), messages.WARNING)
        self.message_user(request, f"{retried} annotation import(s) queued again.")


# --- members: removing one gives back the items they hold ----------------------------------


def _is_last_lead(membership: Membership) -> bool:
    return (
        membership.role == Role.LEAD
        and not Membership.objects.filter(project_id=membership.project_id, role=Role.LEAD)
        .exclude(pk=membership.pk)
        .exists()
    )


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["project", "user", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance = self.instance
        if instance.pk and instance.is_external and cleaned.get("role") != Role.RATER:
            raise ValidationError("An external rater stays a rater: they cannot sign in.")
        if instance.pk and cleaned.get("role") != Role.LEAD:
            stored = Membership.objects.get(pk=instance.pk)
            if _is_last_lead(stored):
                raise ValidationError("A project keeps at least one lead.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    """Members, with the services' rules: a project keeps a lead, and removing a member gives
    the items they hold back to the queue (membership_remove)."""

    form = MembershipAdminForm
    list_display = ["user", "project", "role", "is_external", "external_name", "created_at"]
    list_filter = ["role", "is_external", ("project", LeadProjectFilter)]
    search_fields = ["user__username", "external_name", "project__name"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "project"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An external rater stays (labeling.members.membership_remove says why).
        if obj is not None and (obj.is_external or _is_last_lead(obj)):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("project").order_by("pk"):
            try:
                membership_remove(membership=membership)
            except ValidationError as error:
                messages.warning(request, f"{membership}: {' '.join(error.messages)}")


# --- user accounts -------------------------------------------------------------------------------

User = get_user_model()


def users_answered_for(request: HttpRequest) -> QuerySet[Any]:
    """The accounts a staff lead answers for: ordinary users (neither staff nor superuser) who
    belong to a project the lead leads and to no project the lead does not. Anyone else (another
    lead, a rater shared with another lead, the lead themselves) is out of reach, so that
    setting a password can never open a project the lead does not lead."""
    led = led_project_ids(request)
    memberships = Membership.objects.filter(user=OuterRef("pk"))
    return (
        User.objects.filter(is_staff=False, is_superuser=False)
        .filter(Exists(memberships.filter(project_id__in=led)))
        .exclude(Exists(memberships.exclude(project_id__in=led)))
        # External raters (named in imported files) never sign in: nobody gives them a password.
        .exclude(Exists(memberships.filter(is_external=True)))
    )


admin.site.unregister(User)


@admin.register(User)
class AccordUserAdmin(UserAdmin):
    """Superusers get Django's user admin whole: create users, set passwords, grant staff.

    A staff lead (not a superuser) may view, deactivate, and set the password, name and email of
    the accounts they answer for (`users_answered_for`), and nothing else: no new accounts (an
    invitation link makes the account and the membership together), no deletes, and no
    privilege fields (staff, superuser, groups, permissions) on their forms at all, so no POST
    can set one, whatever model permissions they were given. Deactivating, from the form or the
    action, goes through `user_deactivate`, which gives back the items the user holds."""

    actions = ["deactivate"]
    LEAD_FIELDSETS = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active",)}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )

    def _answers_for(self, request: HttpRequest, obj: Any) -> bool:
        if not request.user.is_active or not led_project_ids(request):
            return False
        return obj is None or users_answered_for(request).filter(pk=obj.pk).exists()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        if is_superuser(request):
            return super().get_queryset(request)
        return users_answered_for(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        if is_superuser(request):
            return super().has_module_permission(request)
        return self._answers_for(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return super().has_view_permission(request, obj)
        return self._answers_for(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_superuser(request):
            return super().has_change_permission(request, obj)
        return self._answers_for(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) and super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if is_superuser(request) or obj is None:
            return super().get_fieldsets(request, obj)
        return self.LEAD_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if is_superuser(request):
            return super().get_readonly_fields(request, obj)
        return ("username", "last_login", "date_joined")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return super().get_list_filter(request) if is_superuser(request) else ("is_active",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj)

    @admin.action(description="Deactivate the selected users (their held items go back)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        users = list(queryset.exclude(pk=request.user.pk).order_by("pk"))
        for user in users:
            user_deactivate(user=user)
        self.message_user(request, f"{len(users)} user(s) deactivated.")
