"""The conflict queue and its resolution page, for leads, in the Django admin.

The queue is the changelist of Conflict, scoped like every admin page to the projects the user
leads (superusers see all): open conflicts unless filtered otherwise, lowest agreement first.
Its change view is replaced by the resolution page. Each decision is a POST to its own URL that
calls one service of `agreement.services.conflicts` (nothing here writes a row) and then moves
straight on to the next open conflict of the same filtered queue, with a message saying what
was done and a button to undo it (undo is reopening). A decision the services refuse (the
conflict changed meanwhile, a value outside the schema) shows the page again with the
services' words, the note kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.middleware.csrf import get_token
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from agreement.admin.display import NO_FIGURE, chips_html, percent, status_html, when_html
from agreement.admin.page import UNDO_KEY, conflict_page
from agreement.admin.queue import LabelPairFilter, QueueFilters, StatusFilter
from agreement.models import Conflict, Resolution, ResolutionAction
from agreement.selectors import QUEUE_ORDER, conflict_after
from agreement.services.conflicts import (
    NOTE_MAX,
    conflict_mark_ambiguous,
    conflict_more_raters,
    conflict_reopen,
    conflict_resolve,
)
from core.admin import is_superuser
from core.errors import Conflict as StateConflict
from projects.admin import LeadProjectFilter, ProjectScopedAdmin, led_project_ids
from projects.models import LabelKind, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SNIPPET_CHARS = 140
WHOLE_NUMBER = re.compile(r"-?\d{1,9}")

Decision = Callable[[Conflict, "User", str], Resolution]


@admin.register(Conflict)
class ConflictAdmin(ProjectScopedAdmin):
    list_display = ["item_cell", "project", "status_cell", "agreement_cell", "label_pair_cell",
                    "opened_cell"]  # fmt: skip
    list_display_links = ["item_cell"]
    list_filter = [StatusFilter, ("project", LeadProjectFilter), LabelPairFilter]
    search_fields = ["item__key"]
    search_help_text = "Search by item key."
    ordering = list(QUEUE_ORDER)
    list_select_related = ["item", "project"]
    actions = None
    show_full_result_count = False  # a count(*) over a big project on every page is slow
    empty_value_display = NO_FIGURE
    change_list_template = "admin/agreement/conflict/change_list.html"

    # Rows change only through the services, from the resolution page.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_list_display(self, request: HttpRequest) -> Any:
        if not is_superuser(request) and len(led_project_ids(request)) == 1:
            # A lead of one project: the same name on every row.
            return [column for column in self.list_display if column != "project"]
        return self.list_display

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conflict]:
        # The label pair column colours its labels: the projects' labels in one query.
        return super().get_queryset(request).prefetch_related("project__labels")

    # --- the queue's columns ---------------------------------------------------------------

    @admin.display(description="item", ordering="item__key")
    def item_cell(self, conflict: Conflict) -> SafeString:
        item = conflict.item
        if item.image_id is not None:
            preview = format_html(
                '<img class="cq-thumb" src="{}" alt="" loading="lazy">',
                reverse("item-thumbnail", args=[item.pk]),
            )
        else:
            preview = format_html(
                '<span class="cq-snippet">{}</span>', Truncator(item.text).chars(SNIPPET_CHARS)
            )
        return format_html('<span class="cq-item"><code>{}</code>{}</span>', item.key, preview)

    @admin.display(description="status", ordering="status")
    def status_cell(self, conflict: Conflict) -> SafeString:
        return status_html(conflict.status, str(conflict.get_status_display()))

    @admin.display(description="agreement", ordering="observed")
    def agreement_cell(self, conflict: Conflict) -> str:
        """The share of agreeing rater pairs on the item."""
        return percent(conflict.observed)

    @admin.display(description="label pair", ordering="label_pair")
    def label_pair_cell(self, conflict: Conflict) -> SafeString | str:
        if not conflict.label_pair:
            return NO_FIGURE
        return chips_html(conflict.label_pair.split(" | "), conflict.project.labels.all())

    @admin.display(description="opened", ordering="opened_at")
    def opened_cell(self, conflict: Conflict) -> SafeString:
        """When it was (last) opened, and how many times it has been opened when more than
        once (settled by the raters or reopened by a lead, then a conflict again)."""
        when = when_html(conflict.opened_at)
        if conflict.times_opened == 1:
            return when
        return format_html(
            '{}<span class="cq-times">opened {} times</span>', when, conflict.times_opened
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"title": "Conflicts to resolve", **(extra_context or {})}
        )

    # --- the resolution page and its decisions -----------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("next/", wrap(self.next_view), name=f"{name}_next"),
            path("<int:object_id>/resolve/", wrap(self.resolve_view), name=f"{name}_resolve"),
            path(
                "<int:object_id>/more-raters/",
                wrap(self.more_raters_view),
                name=f"{name}_more_raters",
            ),
            path("<int:object_id>/ambiguous/", wrap(self.ambiguous_view), name=f"{name}_ambiguous"),
            path("<int:object_id>/reopen/", wrap(self.reopen_view), name=f"{name}_reopen"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:  # fmt: skip
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return self._page(request, self._conflict(request, object_id))

    def next_view(self, request: HttpRequest) -> HttpResponseBase:
        """The first open conflict of the queue, or the queue with a message when none is."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        filters = QueueFilters.of(request)
        first = filters.open_queue(request).first()
        if first is None:
            messages.info(request, "No open conflicts in this queue.")
            return HttpResponseRedirect(self._queue_url(filters))
        return HttpResponseRedirect(self._page_url(first.pk, filters))

    def resolve_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        def resolve(conflict: Conflict, lead: User, note: str) -> Resolution:
            value = _posted_value(conflict.project, request)
            return conflict_resolve(conflict=conflict, lead=lead, value=value, note=note)

        return self._decide(request, object_id, resolve)

    def more_raters_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        return self._decide(
            request, object_id,
            lambda conflict, lead, note: conflict_more_raters(
                conflict=conflict, lead=lead, note=note
            ),
        )  # fmt: skip

    def ambiguous_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        return self._decide(
            request, object_id,
            lambda conflict, lead, note: conflict_mark_ambiguous(
                conflict=conflict, lead=lead, note=note
            ),
        )  # fmt: skip

    def reopen_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        return self._decide(
            request, object_id,
            lambda conflict, lead, note: conflict_reopen(conflict=conflict, lead=lead, note=note),
        )  # fmt: skip

    def _conflict(self, request: HttpRequest, object_id: str | int) -> Conflict:
        """The conflict, if the user may see it (404 otherwise, as for one that does not
        exist: a lead of another project must not learn it exists) and act on it (403)."""
        pk = unquote(str(object_id))
        conflict = (
            self.get_queryset(request)
            .select_related("item", "item__image", "project")
            .filter(pk=int(pk))
            .first()
            if pk.isdigit()
            else None
        )
        if conflict is None or not self.has_view_permission(request, conflict):
            raise Http404("No such conflict.")
        if not self.has_change_permission(request, conflict):
            raise PermissionDenied
        return conflict

    def _decide(self, request: HttpRequest, object_id: int, decide: Decision) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        conflict = self._conflict(request, object_id)
        note = request.POST.get("note", "")
        lead: User = request.user  # type: ignore[assignment]  # admin_view: a staff user
        try:
            resolution = decide(conflict, lead, note)
        except ValidationError as error:  # a StateConflict too: the conflict changed meanwhile
            messages.error(request, " ".join(error.messages))
            fresh = self._conflict(request, object_id)
            checked = request.POST.getlist("value")
            status = 409 if isinstance(error, StateConflict) else 400
            return self._page(request, fresh, note=note, checked=checked, status=status)
        filters = QueueFilters.of(request)
        if resolution.action == ResolutionAction.REOPEN:
            # Reopened to be decided again: its page, open now, is where the lead goes.
            messages.success(request, f"Reopened {conflict.item.key}: decide it again.")
            return HttpResponseRedirect(self._page_url(conflict.pk, filters))
        messages.success(request, self._done_message(request, conflict, resolution, filters))
        following = conflict_after(queue=filters.open_queue(request), current=conflict)
        if following is None:
            messages.info(request, "No open conflicts left in this queue.")
            return HttpResponseRedirect(self._queue_url(filters))
        return HttpResponseRedirect(self._page_url(following.pk, filters))

    def _done_message(
        self, request: HttpRequest, conflict: Conflict, resolution: Resolution,
        filters: QueueFilters,
    ) -> SafeString:  # fmt: skip
        """What was done, with a link back to the item and, for a decision that can be taken
        back, an Undo button (a POST that reopens the conflict)."""
        key = format_html('<a href="{}">{}</a>', self._page_url(conflict.pk, filters),
                          conflict.item.key)  # fmt: skip
        if resolution.action == ResolutionAction.MORE_RATERS:
            return format_html("Sent {} to one more rater; it is back in the raters' queue.", key)
        if resolution.action == ResolutionAction.AMBIGUOUS:
            done = format_html("Marked {} ambiguous (no label of record).", key)
        else:
            words = _value_words(conflict.project, resolution.value_after)
            done = format_html("Resolved {} as “{}”.", key, words)
        undo_url = reverse("admin:agreement_conflict_reopen", args=[conflict.pk])
        return format_html(
            '{} <form class="cr-undo" method="post" action="{}">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button type="submit" data-key="{}">Undo <kbd>{}</kbd></button></form>',
            done, _with_filters(undo_url, filters), get_token(request), UNDO_KEY, UNDO_KEY,
        )  # fmt: skip

    def _page(
        self, request: HttpRequest, conflict: Conflict, *, note: str = "",
        checked: list[str] | None = None, status: int = 200,
    ) -> HttpResponse:  # fmt: skip
        page = conflict_page(conflict=conflict, checked=checked)
        filters = QueueFilters.of(request)
        queue = filters.open_queue(request)
        following = conflict_after(queue=queue, current=conflict)
        urls = {
            name: _with_filters(
                reverse(f"admin:agreement_conflict_{name}", args=[conflict.pk]), filters
            )
            for name in ("resolve", "more_raters", "ambiguous", "reopen")
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Conflict on {conflict.item.key}",
            "page": page,
            "note": note,
            "note_max": NOTE_MAX,
            "urls": urls,
            "queue_url": self._queue_url(filters),
            "skip_url": self._page_url(following.pk, filters) if following else "",
            "open_left": queue.count(),
        }
        return TemplateResponse(
            request, "admin/agreement/conflict/resolve.html", context, status=status
        )

    def _page_url(self, pk: int, filters: QueueFilters) -> str:
        return _with_filters(reverse("admin:agreement_conflict_change", args=[pk]), filters)

    def _queue_url(self, filters: QueueFilters) -> str:
        url = reverse("admin:agreement_conflict_changelist")
        return f"{url}?{filters.encoded}" if filters.encoded else url


def _with_filters(url: str, filters: QueueFilters) -> str:
    """The URL carrying the queue's filters, as Django's admin passes them from page to page."""
    if not filters.encoded:
        return url
    return f"{url}?{urlencode({'_changelist_filters': filters.encoded})}"


def _posted_value(project: Project, request: HttpRequest) -> Any:
    """The decision's value in the services' shape: a list for multi-label, a whole number for a
    rating; anything else is passed on as typed, for the service to name what is wrong."""
    if project.label_kind == LabelKind.MULTI:
        return request.POST.getlist("value")
    value = request.POST.get("value")
    if project.label_kind == LabelKind.RATING and value and WHOLE_NUMBER.fullmatch(value):
        return int(value)
    return value


def _value_words(project: Project, value: Any) -> str:
    """A chosen value in the labels' display names."""
    names = dict(project.labels.values_list("value", "display_name"))
    if isinstance(value, list):
        return ", ".join(names.get(v) or v for v in value) or "none of these"
    return names.get(str(value)) or str(value)
