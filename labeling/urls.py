from django.urls import path

from labeling.views import imports, invitations, items, label, members

urlpatterns = [
    path("invite/<str:secret>/", invitations.invitation, name="invitation"),
    path(
        "projects/<int:pk>/invitations/",
        invitations.project_invitation_create,
        name="project-invitation-create",
    ),
    path(
        "projects/<int:pk>/invitations/<int:invitation_id>/revoke/",
        invitations.project_invitation_revoke,
        name="project-invitation-revoke",
    ),
    path("label/<int:project_id>/", label.label, name="label"),
    path("projects/<int:project_id>/assign/", label.assign, name="assign"),
    path("projects/<int:pk>/items/<int:item_id>/", items.item_detail, name="item-detail"),
    path("projects/<int:pk>/members/", members.project_members, name="project-members"),
    path(
        "projects/<int:pk>/members/<int:membership_id>/role/",
        members.project_member_role,
        name="project-member-role",
    ),
    path(
        "projects/<int:pk>/members/<int:membership_id>/remove/",
        members.project_member_remove,
        name="project-member-remove",
    ),
    path(
        "projects/<int:pk>/annotations/import/",
        imports.annotation_import,
        name="annotation-import",
    ),
    path(
        "projects/<int:pk>/annotations/imports/<int:job_id>/",
        imports.annotation_import_job,
        name="annotation-import-job",
    ),
    path(
        "projects/<int:pk>/annotations/imports/<int:job_id>/status.json",
        imports.annotation_import_job_status,
        name="annotation-import-job-status",
    ),
    path(
        "projects/<int:pk>/annotations/imports/<int:job_id>/retry/",
        imports.annotation_import_job_retry,
        name="annotation-import-job-retry",
    ),
]
