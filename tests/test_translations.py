"""The Chinese translation is complete: every string the app marks for translation has a Chinese
msgstr, none is fuzzy, and the compiled .mo that ships is the .po as committed."""

import gettext
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "profiles" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


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
