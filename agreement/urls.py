"""Pages of agreement: a project's dashboard, its raters' scorecards, a rater's own scorecard,
the recompute button and its progress, and the definitions of every figure."""

from django.urls import path

from agreement import views

project = "projects/<int:pk>/agreement"

urlpatterns = [
    path("agreement/metrics/", views.agreement_metrics, name="agreement-metrics"),
    path(f"{project}/", views.agreement_dashboard, name="agreement-dashboard"),
    path(f"{project}/raters/", views.agreement_raters, name="agreement-raters"),
    path(f"{project}/me/", views.agreement_my_scorecard, name="agreement-my-scorecard"),
    path(f"{project}/recompute/", views.agreement_recompute, name="agreement-recompute"),
    path(
        f"{project}/recomputes/<int:job_id>/status.json",
        views.agreement_recompute_status,
        name="agreement-recompute-status",
    ),
    path(
        f"{project}/recomputes/<int:job_id>/retry/",
        views.agreement_recompute_retry_view,
        name="agreement-recompute-retry",
    ),
]
