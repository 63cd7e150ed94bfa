from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.urls import URLPattern
from django.utils.translation import gettext_lazy as _
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from llmschool.accounts.models import User
from llmschool.accounts.views import superuser_required


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (
        (_("Learning"), {"fields": ("preferred_language",)}),
        (_("Sign up"), {"fields": ("email_verified", "signup_ip")}),
    )
    readonly_fields = ("signup_ip",)
    list_display = ("username", "email", "email_verified", "is_staff", "preferred_language", "date_joined")
    list_filter = BaseUserAdmin.list_filter + ("preferred_language", "email_verified")
    search_fields = BaseUserAdmin.search_fields + ("signup_ip",)


class SuperuserQueueAdmin(QueueAdmin):
    """django-rq's dashboard in the admin (/admin/django_rq/dashboard/), for superusers only like
    /admin/rq/: its views can delete, requeue or stop any job."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_urls(self):
        return [URLPattern(pattern.pattern, superuser_required(pattern.callback), pattern.default_args, pattern.name)
                for pattern in super().get_urls()]


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, SuperuserQueueAdmin)
