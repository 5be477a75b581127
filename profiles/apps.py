from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "profiles"
    verbose_name = _("Tencent IM profiles")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .services.preferences import remember_on_login

        user_logged_in.connect(remember_on_login, dispatch_uid="improfile-remember-language")
