"""Finding the staff user a management command names, with errors that say what is wrong."""

from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import CommandError


def named_user(username: str) -> AbstractBaseUser:
    """The user called ``username``; a CommandError naming it when there is none."""
    user_model = get_user_model()
    user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"No user named {username!r}.")
    return user


def acting_user(username: str, *, to: str) -> AbstractBaseUser:
    """The active user called ``username`` who may change profiles (what ``to`` does, in words)."""
    user = named_user(username)
    if not user.is_active or not user.has_perm("profiles.change_profile"):
        raise CommandError(f"User {username!r} is not allowed to {to}.")
    return user


def os_user() -> str:
    """Who ran this command on the machine (the operating-system account), for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container), nor in the environment
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
