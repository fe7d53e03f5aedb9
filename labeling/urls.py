from django.urls import path

from labeling.views import invitations, items, label, members

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
]
