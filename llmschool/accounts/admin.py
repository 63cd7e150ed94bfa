from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from llmschool.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + ((_("Learning"), {"fields": ("preferred_language",)}),)
    list_display = ("username", "email", "is_staff", "preferred_language", "date_joined")
    list_filter = BaseUserAdmin.list_filter + ("preferred_language",)
