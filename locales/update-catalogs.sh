#!/usr/bin/env bash
# Extract every marked string into messages.pot and merge it into the four catalogs.
# Then translate the new or fuzzy entries; tests/test_catalogs.py fails until all are done.
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel extract -F locales/babel.cfg -k _ -k n_:1,2 -k N_ --no-location --sort-output \
    --project utilibot --copyright-holder "utilibot contributors" \
    -o locales/messages.pot bot domain handlers scheduler storage
for locale in uk ru zh en; do
    po="locales/$locale/LC_MESSAGES/messages.po"
    if [ -f "$po" ]; then
        pybabel update -i locales/messages.pot -d locales -l "$locale" --no-fuzzy-matching --ignore-obsolete
    else
        pybabel init -i locales/messages.pot -d locales -l "$locale"
    fi
done
