"""Domain rules that know nothing about messengers or SQL: parsing, money, verification."""
