"""The four gettext catalogs are complete: every source string translated, none fuzzy, same placeholders."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("uk", "ru", "zh", "en")
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def source_messages() -> set[str]:
    found: set[str] = set()
    for package in ("bot", "handlers", "scheduler", "storage"):
        for _, _, message, _, _ in extract_from_dir(ROOT / package, keywords=KEYWORDS, comment_tags=()):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_template_matches_the_source():
    with (ROOT / "locales" / "messages.pot").open("rb") as handle:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    missing = source_messages() - template
    assert not missing, f"run locales/update-catalogs.sh: not in messages.pot: {sorted(missing)[:10]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_complete(locale):
    with (ROOT / "locales" / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    problems = []
    ids = set()
    for message in catalog:
        if not message.id:
            continue
        ids.add(message.id)
        singulars = [message.id] if isinstance(message.id, str) else list(message.id)
        translations = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {singulars[0]!r}")
        if not all(translations):
            problems.append(f"untranslated: {singulars[0]!r}")
            continue
        expected = placeholders(singulars[0]) - {"count"}
        for text in translations:
            if placeholders(text) - {"count"} != expected:
                problems.append(f"placeholders differ: {singulars[0]!r} → {text!r}")
    problems += [f"missing: {msgid!r}" for msgid in template - ids]
    assert not problems, f"{locale}: {len(problems)} problems, e.g. {problems[:5]}"
