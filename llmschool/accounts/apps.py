from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "llmschool.accounts"
    label = "accounts"
    verbose_name = "Accounts"
