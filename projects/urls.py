from django.contrib.auth import views as auth_views
from django.urls import path

from projects import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("projects/new/", views.project_new, name="project-new"),
    path("projects/markdown-preview/", views.markdown_preview, name="markdown-preview"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/settings/", views.project_settings, name="project-settings"),
    path("projects/<int:pk>/members/", views.project_members, name="project-members"),
    path(
        "projects/<int:pk>/members/<int:membership_id>/role/",
        views.project_member_role,
        name="project-member-role",
    ),
    path(
        "projects/<int:pk>/members/<int:membership_id>/remove/",
        views.project_member_remove,
        name="project-member-remove",
    ),
    path("projects/<int:pk>/items/", views.project_items, name="project-items"),
    path("projects/<int:pk>/import/", views.project_import, name="project-import"),
    path("projects/<int:pk>/imports/<int:job_id>/", views.import_job, name="import-job"),
    path(
        "projects/<int:pk>/imports/<int:job_id>/status.json",
        views.import_job_status,
        name="import-job-status",
    ),
    path(
        "projects/<int:pk>/imports/<int:job_id>/retry/",
        views.import_job_retry_view,
        name="import-job-retry",
    ),
    path("items/<int:item_id>/image/", views.item_image, name="item-image"),
    path("items/<int:item_id>/thumbnail/", views.item_thumbnail, name="item-thumbnail"),
]
