from django.urls import path

from labeling import views

urlpatterns = [
    path("label/<int:project_id>/", views.label, name="label"),
    path("projects/<int:project_id>/assign/", views.assign, name="assign"),
]
