"""Configuration from the environment: the emulator by default, clear refusals in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiles.im.config import ConfigError, load_im_config

ROOT = Path(__file__).resolve().parent.parent
REAL = {"IM_SDKAPPID": "1400123456", "IM_SECRET_KEY": "k" * 64, "IM_REGION": "singapore"}


def test_no_im_settings_means_the_builtin_emulator():
    config = load_im_config({}, debug=True)
    assert config.uses_emulator and config.api_base == "http://127.0.0.1:8765"
    assert config.admin_identifier == "administrator" and config.rate_limit == 200


def test_a_region_picks_its_main_domain_over_https():
    config = load_im_config(REAL, debug=False)
    assert config.api_base == "https://adminapisgp.im.qcloud.com" and not config.uses_emulator
    assert config.sdkappid == 1400123456


def test_the_secret_key_stays_out_of_the_repr():
    assert "k" * 64 not in repr(load_im_config(REAL, debug=False))


@pytest.mark.parametrize(
    ("env", "debug", "named"),
    [
        ({}, False, "IM_SDKAPPID"),
        ({**REAL, "IM_SECRET_KEY": ""}, False, "IM_SECRET_KEY"),
        ({**REAL, "IM_SDKAPPID": ""}, True, "IM_SDKAPPID"),
        ({**REAL, "IM_REGION": ""}, False, "IM_REGION"),
        ({**REAL, "IM_REGION": "mars"}, False, "IM_REGION"),
        ({**REAL, "IM_SDKAPPID": "abc"}, False, "IM_SDKAPPID"),
        ({**REAL, "IM_API_BASE": "http://im.example.com"}, False, "IM_API_BASE"),
        ({**REAL, "IM_API_BASE": "ftp://127.0.0.1"}, False, "IM_API_BASE"),
        ({**REAL, "IM_RATE_LIMIT": "fast"}, False, "IM_RATE_LIMIT"),
    ],
)
def test_a_bad_or_missing_variable_is_named(env, debug, named):
    with pytest.raises(ConfigError, match=named):
        load_im_config(env, debug=debug)


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:9000", "http://localhost:9000/", "http://[::1]:9000", "https://im.example.com/proxy"]
)
def test_im_api_base_allows_https_anywhere_and_http_on_loopback(base):
    assert load_im_config({**REAL, "IM_API_BASE": base}, debug=False).api_base == base.rstrip("/")


def manage_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    dropped = {"SECRET_KEY", "DEBUG", "AUDIT_KEY"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_") and k not in dropped}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_debug_is_off_unless_set_so_start_up_without_a_secret_key_refuses():
    done = manage_check({})  # no DEBUG, no SECRET_KEY: the environment of a forgotten deployment
    assert done.returncode != 0 and "SECRET_KEY is not set; it is required when DEBUG is off" in done.stderr
    assert "for development set DEBUG=on" in done.stderr


def test_production_refuses_to_start_without_secret_key():
    done = manage_check({"DEBUG": "off", "ALLOWED_HOSTS": "improfile.example.com", **REAL})
    assert done.returncode != 0 and "SECRET_KEY is not set" in done.stderr


def test_production_refuses_to_start_without_im_credentials():
    done = manage_check({"DEBUG": "off", "ALLOWED_HOSTS": "x.example.com", "SECRET_KEY": "s" * 50})
    assert done.returncode != 0 and "IM_SDKAPPID is not set" in done.stderr


PRODUCTION = {"DEBUG": "off", "ALLOWED_HOSTS": "x.example.com", "SECRET_KEY": "s" * 50, **REAL}


def test_production_refuses_to_start_without_an_audit_key():
    done = manage_check(PRODUCTION)
    assert done.returncode != 0 and "AUDIT_KEY is not set" in done.stderr


def test_production_refuses_the_secret_key_as_audit_key():
    done = manage_check({**PRODUCTION, "AUDIT_KEY": "s" * 50})
    assert done.returncode != 0 and "AUDIT_KEY must differ from SECRET_KEY" in done.stderr
    assert "s" * 50 not in done.stderr


def test_production_starts_with_everything_set():
    done = manage_check({**PRODUCTION, "AUDIT_KEY": "a" * 48})
    assert done.returncode == 0, done.stderr
    assert "k" * 64 not in done.stdout + done.stderr and "a" * 48 not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT must be a whole number of at least 1, not '0'"),
        ({"LOGIN_COOLOFF_MINUTES": "soon"}, "LOGIN_COOLOFF_MINUTES must be a whole number of at least 1, not 'soon'"),
        ({"SESSION_IDLE_MINUTES": "-5"}, "SESSION_IDLE_MINUTES must be a whole number of at least 1"),
        ({"LOGIN_CLIENT_IP_HEADER": "X-Forwarded-For: 1.2.3.4"}, "LOGIN_CLIENT_IP_HEADER must be a header name"),
        ({"REQUIRE_TWO_FACTOR": "superusers,admins"}, "REQUIRE_TWO_FACTOR: unknown ['admins']; use a comma-separated"),
    ],
)
def test_a_bad_login_setting_stops_start_up_naming_it(env, message):
    done = manage_check({"DEBUG": "on", **env})  # development: the login setting is what stops it
    assert done.returncode != 0 and message in done.stderr


def test_the_login_settings_are_read_from_the_environment():
    env = {
        "DEBUG": "on",
        "LOGIN_FAILURE_LIMIT": "3", "LOGIN_COOLOFF_MINUTES": "60", "SESSION_IDLE_MINUTES": "10",
        "LOGIN_CLIENT_IP_HEADER": "X-Forwarded-For", "LOGIN_TRUSTED_PROXIES": "2",
        "REQUIRE_TWO_FACTOR": "Superusers, reviewers",
    }
    dropped = {"SECRET_KEY", "DEBUG", "AUDIT_KEY"}
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, s.SESSION_COOKIE_AGE,"
         " s.LOGIN_CLIENT_IP_HEADER, s.LOGIN_TRUSTED_PROXIES, s.REQUIRE_TWO_FACTOR)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("IM_") and k not in dropped}, **env},
    )
    assert shown.stdout.strip().splitlines()[-1] == "3 1:00:00 600 X-Forwarded-For 2 ['superusers', 'reviewers']", (
        shown.stderr
    )


def settings_value(expression: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "REDIS_URL"))}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-c", f"from improfile_site import settings; print({expression})"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def test_redis_url_makes_redis_the_task_broker_and_without_it_the_database_is():
    shown = "sorted(settings.Q_CLUSTER.items() & {('orm', 'default'), ('redis', settings.REDIS_URL)})"
    done = settings_value(shown, {"REDIS_URL": "redis://127.0.0.1:6379/5"})
    assert done.stdout.strip() == "[('redis', 'redis://127.0.0.1:6379/5')]", done.stderr
    done = settings_value(shown, {})
    assert done.stdout.strip() == "[('orm', 'default')]", done.stderr


def test_a_redis_url_that_is_no_url_is_named_and_not_echoed():
    done = settings_value("1", {"REDIS_URL": "secretpass@127.0.0.1:6379"})
    assert done.returncode != 0 and "REDIS_URL must be a redis://, rediss:// or unix:// URL" in done.stderr
    assert "secretpass" not in done.stderr
