"""The Chinese translation is complete: every string the app marks for translation has a Chinese
msgstr, none is fuzzy, and the compiled .mo that ships is the .po as committed."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "profiles" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# As the Makefile's `messages` target runs makemessages.
MAKEMESSAGES_OPTIONS = ["--locale", "zh_Hans", "--no-obsolete", "--no-location"]


def problems(catalogue: polib.POFile) -> list[str]:
    found = []
    for entry in catalogue:
        if entry.obsolete:
            continue
        name = repr(entry.msgid) + (f" (context {entry.msgctxt!r})" if entry.msgctxt else "")
        if "fuzzy" in entry.flags:
            found.append(f"fuzzy: {name}")
        elif not entry.translated():
            found.append(f"untranslated: {name}")
    return found


def test_the_committed_catalogue_has_no_untranslated_or_fuzzy_entry():
    catalogue = polib.pofile(str(PO))
    assert len(catalogue) > 0
    assert problems(catalogue) == []


def test_the_shipped_mo_is_the_committed_po():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    for entry in polib.pofile(str(PO)):
        if entry.obsolete or not entry.translated():
            continue
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            shipped = [compiled.get((key, n)) for n in sorted(entry.msgstr_plural)]
            expected = [entry.msgstr_plural[n] for n in sorted(entry.msgstr_plural)]
        else:
            shipped, expected = compiled.get(key), entry.msgstr
        assert shipped == expected, f"{entry.msgid!r}: the .mo is out of date; run make messages"


@pytest.mark.skipif(
    shutil.which("xgettext") is None, reason="needs GNU gettext (apt-get install gettext); .ci/run installs it"
)
def test_every_string_marked_in_the_code_is_in_the_catalogue(tmp_path):
    """Extract the messages from a copy of the sources, as `make messages` does, and check the result:
    a string marked for translation but never added to the .po fails here."""
    for part in ("manage.py", "improfile_site", "profiles", "templates"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, tmp_path / part)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *MAKEMESSAGES_OPTIONS, "--verbosity", "0"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    )
    extracted = polib.pofile(str(tmp_path / PO.relative_to(ROOT)))
    assert problems(extracted) == []
