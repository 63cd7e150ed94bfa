from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from llmschool import health


def home(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "home.html")


@never_cache
def healthz(request):
    report = health.health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
