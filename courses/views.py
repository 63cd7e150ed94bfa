from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def catalog(request):
    return render(request, "courses/catalog.html")


@login_required
def dashboard(request):
    return render(request, "courses/dashboard.html")
