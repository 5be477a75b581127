"""Production settings: `manage.py check --deploy` passes with the production part of .env.example filled
in, warns when an HTTPS protection is turned off, and every variable the settings read is documented."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"


def example_production_env() -> dict[str, str]:
    """The active (uncommented) lines of .env.example, as an operator fills them in: each empty value (a
    secret to choose) gets a random one of its own, the examples stay as they are."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip() or secrets.token_urlsafe(50)
    return values


def documented_names() -> set[str]:
    """Every variable .env.example mentions, set or commented out."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)[=:( ]", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))


def clean_environment() -> dict[str, str]:
    """This process's environment without anything the settings read (DEBUG=on from the test suite among
    them), so a child sees only what a test gives it."""
    names = documented_names()
    return {k: v for k, v in os.environ.items() if k not in names and not k.startswith(("IM_", "SECURE_"))}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean_environment(), **env},
        capture_output=True, text=True, timeout=120,
    )


def test_the_production_section_of_env_example_is_what_production_needs():
    env = example_production_env()
    assert env["DEBUG"] == "off"
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "AUDIT_KEY", "IM_SDKAPPID", "IM_SECRET_KEY", "IM_REGION",
                 "IM_CALLBACK_TOKEN", "SECURE_PROXY_SSL_HEADER", "STATIC_ROOT"):
        assert name in env, name


def test_check_deploy_passes_with_the_production_environment_of_env_example():
    env = example_production_env()
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
    output = done.stdout + done.stderr
    for secret in ("SECRET_KEY", "AUDIT_KEY", "IM_SECRET_KEY", "IM_CALLBACK_TOKEN"):
        assert env[secret] not in output


@pytest.mark.parametrize(
    ("setting", "value", "warning"),
    [
        ("SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("SECURE_SSL_REDIRECT", "off", "security.W008"),
        ("SESSION_COOKIE_SECURE", "off", "security.W012"),
        ("SECURE_HSTS_PRELOAD", "off", "security.W021"),
    ],
)
def test_check_deploy_fails_when_an_https_protection_is_turned_off(setting, value, warning):
    done = manage("check", "--deploy", "--fail-level", "WARNING", env={**example_production_env(), setting: value})
    output = done.stdout + done.stderr
    assert done.returncode != 0 and re.findall(r"\(([a-z_]+\.[EW]\d+)\)", output) == [warning], output


def print_setting(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = f"from django.conf import settings; print(settings.{name})"
    return manage("shell", "--verbosity", "0", "-c", code, env=env)


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_PROTO", "X-Forwarded-Proto", "x-forwarded-proto"])
def test_the_proxy_header_may_be_named_as_django_or_as_http_names_it(header):
    done = print_setting("SECURE_PROXY_SSL_HEADER", {**example_production_env(), "SECURE_PROXY_SSL_HEADER": header})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_a_proxy_header_that_is_no_header_name_is_refused_naming_the_variable():
    done = print_setting("DEBUG", {**example_production_env(), "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"})
    assert done.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must name a request header, e.g. HTTP_X_FORWARDED_PROTO" in done.stderr


def test_https_settings_are_off_in_development_and_the_policy_is_the_same():
    done = manage("shell", "--verbosity", "0", "-c", (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.STORAGES['staticfiles']['BACKEND'], s.CONTENT_SECURITY_POLICY['DIRECTIVES']['style-src'])"
    ), env={"DEBUG": "on"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "False", "0", "False", "False", "django.contrib.staticfiles.storage.StaticFilesStorage", "[\"'self'\"]",
    ]


def settings_variables() -> set[str]:
    """The variables improfile_site/settings.py and the Tencent configuration (profiles/im/config.py) read."""
    settings_source = (ROOT / "improfile_site" / "settings.py").read_text(encoding="utf-8")
    config_source = (ROOT / "profiles" / "im" / "config.py").read_text(encoding="utf-8")
    return (
        set(re.findall(r'env\.[a-z]+\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
        | set(re.findall(r'env(?:\.get\(|, )"([A-Z][A-Z0-9_]+)"', config_source))
    )


def test_every_variable_the_settings_read_is_in_env_example_and_the_readme_configuration_table():
    variables = settings_variables()
    assert {"DEBUG", "SECURE_HSTS_SECONDS", "IM_SDKAPPID", "STATIC_ROOT"} <= variables  # the parsing works
    assert variables - documented_names() == set()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    configuration = readme[readme.index("## Configuration"):]
    configuration = configuration[:configuration.index("\n## ", 1)]
    table = "\n".join(line for line in configuration.splitlines() if line.startswith("| `"))
    assert {name for name in variables if f"`{name}`" not in table} == set()
