from django.contrib import admin
from django.urls import include, path, re_path

from core.api.errors import api_not_found
from core.api.schema_views import SchemaDocsView, SchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SchemaDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("config.api_urls")),
    # Last of the API: an unknown path under /api/ answers JSON, like every API error.
    re_path(r"^api/", api_not_found),
    path("", include("overview.urls")),
    path("", include("labeling.urls")),
    path("", include("projects.urls")),
    path("", include("agreement.urls")),
    path("", include("exports.urls")),
]

handler400 = "core.api.errors.bad_request"
handler403 = "core.api.errors.permission_denied"
handler404 = "core.api.errors.page_not_found"
handler500 = "core.api.errors.server_error"
