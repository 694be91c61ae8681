"""The ground floor: config schema, i18n and locale formatting, money, windows, readings rules,
verification, payment payloads and broadcast texts. It imports no other utilibot package."""
