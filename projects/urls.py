from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from core.lockout import LockoutAuthenticationForm
from projects.views import imports, items, settings, tokens

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LockoutAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password-change-done",
    ),
    path("tokens/", tokens.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("projects/<int:pk>/tokens/", tokens.project_tokens, name="project-tokens"),
    path(
        "projects/<int:pk>/tokens/<int:token_id>/revoke/",
        tokens.project_token_revoke,
        name="project-token-revoke",
    ),
    path("projects/new/", settings.project_new, name="project-new"),
    path("projects/markdown-preview/", settings.markdown_preview, name="markdown-preview"),
    path("projects/<int:pk>/settings/", settings.project_settings, name="project-settings"),
    path("projects/<int:pk>/archive/", settings.project_archive_view, name="project-archive"),
    path("projects/<int:pk>/unarchive/", settings.project_unarchive_view, name="project-unarchive"),
    path("projects/<int:pk>/items/", items.project_items, name="project-items"),
    path("projects/<int:pk>/import/", imports.project_import, name="project-import"),
    path("projects/<int:pk>/imports/<int:job_id>/", imports.import_job, name="import-job"),
    path(
        "projects/<int:pk>/imports/<int:job_id>/status.json",
        imports.import_job_status,
        name="import-job-status",
    ),
    path(
        "projects/<int:pk>/imports/<int:job_id>/retry/",
        imports.import_job_retry_view,
        name="import-job-retry",
    ),
    path("items/<int:item_id>/image/", items.item_image, name="item-image"),
    path("items/<int:item_id>/thumbnail/", items.item_thumbnail, name="item-thumbnail"),
]
