from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "profiles"
    verbose_name = _("Tencent IM profiles")

    def ready(self) -> None:
        from django.apps import apps
        from django.contrib.auth.signals import user_logged_in

        from .services.preferences import remember_on_login

        user_logged_in.connect(remember_on_login, dispatch_uid="improfile-remember-language")
        # django-axes and django-otp's TOTP plugin give their admin sections English names only ("Axes",
        # "Otp_Totp"). An app's name is no part of its migrations, so the sections are named here, in
        # words that translate.
        for label, name in (("axes", _("Sign-ins and lockouts")), ("otp_totp", _("Authenticators"))):
            if label in apps.app_configs:
                apps.get_app_config(label).verbose_name = name
