"""Pages for leads: projects, members, labels, imports, API tokens. (Being built.)"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")
