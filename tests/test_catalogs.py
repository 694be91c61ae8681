"""The four gettext catalogs are complete: every source string translated, none fuzzy, same placeholders."""

from __future__ import annotations

import re
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


def read_catalog(locale: str):
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


# Plural rules every catalog declares (the gettext forms of CLDR's one/few/many for uk and ru).
PLURAL_FORMS = {
    "uk": (3, "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"),
    "ru": (3, "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"),
    "zh": (1, "0"),
    "en": (2, "(n != 1)"),
}


@pytest.mark.parametrize("locale", LOCALES)
def test_plural_forms_header_and_every_plural_has_them_all(locale):
    catalog = read_catalog(locale)
    count, rule = PLURAL_FORMS[locale]
    text = (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    header = "".join(line[1:-1] for line in text.split("\n\n")[0].splitlines() if line.startswith('"'))
    assert f"Plural-Forms: nplurals={count}; plural={rule};\\n" in header
    plurals = [message for message in catalog if message.id and not isinstance(message.id, str)]
    assert len(plurals) >= 5
    for message in plurals:
        assert len(message.string) == count and all(message.string), message.id


def test_counted_strings_go_through_ngettext():
    """A string with {count} or {n} passed to plain _() or N_() would read '1 повідомлень'."""
    offenders = []
    for package in ("bot", "domain", "handlers", "scheduler", "storage"):
        found = extract_from_dir(ROOT / package, keywords=KEYWORDS, comment_tags=())
        for filename, lineno, message, _, _ in found:
            if isinstance(message, str) and placeholders(message) & {"count", "n"}:
                offenders.append(f"{package}/{filename}:{lineno}: {message!r}")
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("count", "uk", "ru"),
    [
        (1, "1 повідомлення не буде", "1 сообщение не будет"),
        (3, "3 повідомлення не буде", "3 сообщения не будут"),
        (5, "5 повідомлень не буде", "5 сообщений не будут"),
        (11, "11 повідомлень не буде", "11 сообщений не будут"),
        (21, "21 повідомлення не буде", "21 сообщение не будет"),
        (22, "22 повідомлення не буде", "22 сообщения не будут"),
    ],
)
def test_one_few_many_in_ukrainian_and_russian(count, uk, ru):
    from domain.i18n import translator

    singular = "Broadcast #{id} is cancelled: {count} message will not be sent."
    plural = "Broadcast #{id} is cancelled: {count} messages will not be sent."
    assert uk in translator("uk").n_(singular, plural, count, id=7)
    assert ru in translator("ru").n_(singular, plural, count, id=7)
    english = translator("en").n_(singular, plural, count, id=7)
    assert (f"{count} message will" if count == 1 else f"{count} messages will") in english


# ---------------------------------------------------------------------------------------------
# The glossary (locales/GLOSSARY.md): one vocabulary in every catalog.

CELL_SPLIT = re.compile(r"(?<!\\)\|")
PATTERN = re.compile(r"`([^`]+)`")
REJECTED = re.compile(r"\b(uk|ru|zh|en) `([^`]+)`")


def glossary() -> list[dict[str, object]]:
    terms = []
    for line in (ROOT / "locales" / "GLOSSARY.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().replace("\\|", "|") for cell in CELL_SPLIT.split(line)[1:-1]]
        if len(cells) != 7 or not cells[0].isdigit():
            continue
        number, term, scope, *translated, rejected = cells
        patterns = {}
        for locale, cell in zip(("uk", "ru", "zh"), translated, strict=True):
            found = PATTERN.findall(cell)
            assert len(found) == 1, f"glossary term {number}: {locale} needs one `pattern`: {cell!r}"
            patterns[locale] = re.compile(found[0], re.IGNORECASE)
        terms.append(
            {
                "term": term,
                "scope": re.compile(PATTERN.findall(scope)[0], re.IGNORECASE),
                "patterns": patterns,
                "rejected": [(loc, re.compile(rx, re.IGNORECASE)) for loc, rx in REJECTED.findall(rejected)],
            }
        )
    return terms


def test_glossary_lists_the_twenty_core_terms():
    terms = glossary()
    assert len(terms) == 20
    names = " ".join(str(term["term"]) for term in terms)
    for core in ("personal account", "meter", "reading", "reading window", "balance", "charge", "payment",
                 "due date", "provider", "hotline"):
        assert core in names


@pytest.mark.parametrize("locale", ["uk", "ru", "zh"])
def test_catalog_speaks_the_glossary(locale):
    catalog = read_catalog(locale)
    problems = []
    used = set()
    for term in glossary():
        for message in catalog:
            if not message.id:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            if not term["scope"].search(msgid):
                continue
            used.add(term["term"])
            translations = [message.string] if isinstance(message.string, str) else list(message.string)
            for text in translations:
                if not term["patterns"][locale].search(text):
                    problems.append(f"{term['term']}: {msgid[:60]!r} → {text[:80]!r}")
                for rejected_locale, rejected in term["rejected"]:
                    if rejected_locale == locale and rejected.search(text):
                        problems.append(f"{term['term']}: rejected {rejected.pattern!r} in {text[:80]!r}")
    assert not problems, f"{locale}: {len(problems)} problems:\n" + "\n".join(problems)
    assert len(used) == 20, "every glossary term is used by some message"


def test_rejected_chinese_synonyms_are_gone():
    texts = [m.string for m in read_catalog("zh") if m.id and isinstance(m.string, str)]
    assert not [text for text in texts if "抄表窗口" in text]
    assert not [text for text in texts if re.search(r"账户\s*\{number\}", text)]  # the bot says 户号


CJK = "\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"
CJK_ASCII_PUNCTUATION = re.compile(rf"[{CJK}] ?[,.;:!?()]|[,.;:!?()] ?[\u4e00-\u9fff]|[。，：；！？] +\S")


def test_chinese_has_no_ascii_punctuation_between_sentences():
    """', ' '. ' '。 ' '： ' inside Chinese text: Chinese takes full-width punctuation and no spaces."""
    problems = []
    for message in read_catalog("zh"):
        if not message.id:
            continue
        for text in [message.string] if isinstance(message.string, str) else list(message.string):
            for bad in CJK_ASCII_PUNCTUATION.findall(text):
                problems.append(f"{bad!r} in {text[:70]!r}")
    assert not problems, problems
