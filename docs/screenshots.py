"""Screenshots of the main pages, in English and in Simplified Chinese, taken from the real product.

    .venv/bin/python docs/screenshots.py [--out docs/screenshots]

It starts `manage.py rundev` (the embedded default: a throwaway SQLite database, the built-in Tencent
emulator, runserver and a django-q2 cluster) on free loopback ports, logs in as the demo superuser in a
headless Chromium (/usr/bin/chromium, through Playwright) at 1440×900, and for each language:

- profile-form: the change form of the demo user u_8812;
- conflict: the same form after the user changed their nickname in their own app (the emulator sends
  Tencent's webhook) while the agent was editing it, and the agent saved;
- job: the page of a *Set fields…* job on five profiles, one of which Tencent refuses (an injected fault);
- audit-list: the audit trail;
- dashboard: the auditors' dashboard.

Chinese pages need a CJK font for Chromium (Debian: `apt-get install fonts-wqy-microhei` or
`fonts-noto-cjk`); without one the Chinese text comes out as boxes, and the script says so.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
LANGUAGES = {"en": "en-US", "zh-hans": "zh-CN"}
VIEWPORT = {"width": 1440, "height": 900}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_product(temp: Path) -> tuple[subprocess.Popen, str, str, str]:
    """`manage.py rundev` on free ports; returns the process, the admin's base URL, the password printed
    for the demo login, and the emulator's URL."""
    web_port, emulator_port = free_port(), free_port()
    env = {
        **os.environ, "DEBUG": "on", "DATABASE_URL": f"sqlite:///{temp / 'screens.sqlite3'}",
        "AUDIT_DIGEST_DIR": str(temp / "digests"), "IM_EMULATOR_PORT": str(emulator_port),
        "IM_DEMO_ACCOUNTS": "40", "LOG_LEVEL": "WARNING",
    }
    for name in ("IM_SDKAPPID", "IM_SECRET_KEY", "IM_REGION", "IM_API_BASE"):
        env.pop(name, None)  # the built-in emulator, whatever this shell has configured
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundev", "--port", str(web_port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = re.search(r"with password '([^']+)'", line)
        if match:
            return process, f"http://127.0.0.1:{web_port}", match.group(1), f"http://127.0.0.1:{emulator_port}"
    stop(process)
    raise SystemExit("rundev did not start:\n" + "".join(output))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def emulator_control(emulator_url: str, action: str, payload: dict) -> None:
    answer = requests.post(f"{emulator_url}/_emulator/{action}", json=payload, timeout=30)
    answer.raise_for_status()


def shoot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=False)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def pages_in(language: str, browser, base: str, password: str, emulator_url: str, out: Path) -> None:
    context = browser.new_context(base_url=base, locale=LANGUAGES[language], viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    # The switch in the header, as a person would choose it (the account remembers the choice).
    if page.locator("#language-choice").input_value() != language:
        page.select_option("#language-choice", language)
        page.wait_for_load_state()
    folder = out / language
    folder.mkdir(parents=True, exist_ok=True)

    # The profile form of a demo user.
    page.goto("/admin/profiles/profile/?q=u_8812")
    page.locator("#result_list a", has_text="u_8812").first.click()
    page.wait_for_selector("input[name=nick]")
    change_url = page.url
    shoot(page, folder / "profile-form.png")

    # A conflict: the user changes their nickname in their own app while the agent edits it.
    page.fill("input[name=nick]", "Agent's fix" if language == "en" else "客服修改")
    emulator_control(emulator_url, "set_as_user", {
        "user_id": "u_8812", "platform": "iOS",
        "changes": {"Tag_Profile_IM_Nick": f"Sunny {int(time.time()) % 1000}"},
    })
    emulator_control(emulator_url, "callbacks", {"wait": 5})
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    page.locator("#conflicts").first.scroll_into_view_if_needed()
    shoot(page, folder / "conflict.png")
    page.goto(change_url)  # leave the form as it was

    # A bulk job on five profiles; Tencent refuses one of them.
    emulator_control(emulator_url, "faults", {"kind": "error_code", "command": "profile/portrait_set",
                                              "error_code": 40601, "times": 1})
    page.goto("/admin/profiles/profile/?q=demo_")
    boxes = page.locator("#result_list input.action-select")
    first = 5 * list(LANGUAGES).index(language)  # each language's job on profiles of its own
    for index in range(first, first + 5):
        boxes.nth(index).check()
    page.select_option("select[name=action]", "set_fields")
    page.click("button[name=index]")
    page.wait_for_selector("input[name=level]")
    page.check("input[name=do_level][value=set]")
    page.fill("input[name=level]", "3")
    page.click("input[name=_preview]")
    page.wait_for_load_state()
    page.click("input[name=_confirm]")
    page.wait_for_url(re.compile(r"/admin/profiles/bulkjob/\d+/"))
    # The page follows the job by itself; Cancel is offered until the job ends.
    page.wait_for_selector("#job-cancel", state="detached", timeout=120_000)
    page.wait_for_load_state()
    time.sleep(1)
    shoot(page, folder / "job.png")

    page.goto("/admin/profiles/imrequest/")
    shoot(page, folder / "audit-list.png")
    page.goto("/admin/profiles/imrequest/dashboard/")
    shoot(page, folder / "dashboard.png")
    context.close()


def has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    return bool(subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing; install it with `apt-get install chromium`.")
    if not has_cjk_font():
        print("warning: no Chinese font found (fc-list :lang=zh); Chinese text will show as boxes. "
              "Install one: apt-get install fonts-wqy-microhei", file=sys.stderr)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="improfile-screens-") as temp:
        process, base, password, emulator_url = start_product(Path(temp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                     args=["--no-sandbox", "--disable-gpu"])
                try:
                    for language in LANGUAGES:
                        print(f"{language}:")
                        pages_in(language, browser, base, password, emulator_url, args.out)
                finally:
                    browser.close()
        finally:
            stop(process)


if __name__ == "__main__":
    main()
