import time

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def sleep(request: HttpRequest) -> HttpResponse:
    time.sleep(30)
    return HttpResponse("slept")


urlpatterns = [
    path("api/v1/sleep/", sleep),
    path("sleep/", sleep),
    path("", include("config.urls")),
]
