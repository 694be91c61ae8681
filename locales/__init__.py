"""The gettext catalogs (``{uk,ru,zh,en}/LC_MESSAGES/messages.po``), shipped as package data and
read through ``importlib.resources`` by domain/i18n.py. No code lives here."""
