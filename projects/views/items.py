"""A project's items, and their images."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Substr
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.http import immutable_file_response
from projects.forms import ItemFilterForm
from projects.models import Item
from projects.selectors import project_role
from projects.views.access import AuthenticatedRequest, project_for

ITEMS_PER_PAGE = 50


# --- items -------------------------------------------------------------------------------------


@login_required
def project_items(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Items, newest import last, in pages of ITEMS_PER_PAGE walked by id (keyset), so the
    hundredth page of a 100k-item project costs what the first one does."""
    access = project_for(request, pk)
    project = access.project
    filters = ItemFilterForm(request.GET)
    items: QuerySet[Item] = Item.objects.filter(project=project)
    filtering = False
    if filters.is_valid():
        if filters.cleaned_data["status"]:
            items = items.filter(status=filters.cleaned_data["status"])
            filtering = True
        if filters.cleaned_data["q"].strip():
            items = items.filter(key__icontains=filters.cleaned_data["q"].strip())
            filtering = True
    total = items.count()
    after, before = _int_param(request, "after"), _int_param(request, "before")
    rows = items.annotate(
        text_preview=Substr("text", 1, 240), source_file=KT("data__file")
    ).only(
        "id", "key", "status", "annotation_count", "priority", "is_gold", "image_id",
        "created_at", "project_id",
    )  # fmt: skip
    if before is not None:
        page = list(rows.filter(pk__lt=before).order_by("-pk")[: ITEMS_PER_PAGE + 1])
        has_previous = len(page) > ITEMS_PER_PAGE
        page = page[:ITEMS_PER_PAGE][::-1]
        has_next = bool(page) and items.filter(pk__gt=page[-1].pk).exists()
    else:
        start = rows.filter(pk__gt=after) if after is not None else rows
        page = list(start.order_by("pk")[: ITEMS_PER_PAGE + 1])
        has_next = len(page) > ITEMS_PER_PAGE
        page = page[:ITEMS_PER_PAGE]
        has_previous = bool(page) and items.filter(pk__lt=page[0].pk).exists()
    query = request.GET.copy()
    for name in ("after", "before"):
        query.pop(name, None)
    return render(
        request,
        "projects/items.html",
        {
            "access": access,
            "project": project,
            "filters": filters,
            "filtering": filtering,
            "items": page,
            "total": total,
            "next_after": page[-1].pk if page and has_next else None,
            "previous_before": page[0].pk if page and has_previous else None,
            "base_query": query.urlencode(),
            "active_tab": "items",
        },
    )


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@login_required
@require_GET
def item_image(request: AuthenticatedRequest, item_id: int) -> HttpResponseBase:
    return _item_file(request, item_id, thumbnail=False)


@login_required
@require_GET
def item_thumbnail(request: AuthenticatedRequest, item_id: int) -> HttpResponseBase:
    return _item_file(request, item_id, thumbnail=True)


def _item_file(request: HttpRequest, item_id: int, *, thumbnail: bool) -> HttpResponseBase:
    """Stream an item's image to a member of its project. Blobs are named by content hash, so
    the hash is a perfect ETag and the browser may keep the file."""
    item = Item.objects.select_related("image").filter(pk=item_id).only(
        "id", "project_id", "image"
    ).first()  # fmt: skip
    if item is None or project_role(project=item.project_id, user=request.user) is None:
        raise Http404("No such item.")
    if item.image is None:
        raise Http404("This item has no image.")
    blob_file = item.image.thumbnail if thumbnail else item.image.file
    etag = f'"{item.image.sha256}{"-t" if thumbnail else ""}"'
    try:
        return immutable_file_response(request, etag=etag, open_file=lambda: blob_file.open("rb"))
    except (FileNotFoundError, ValueError) as error:
        raise Http404("The image file is missing.") from error
