"""`python -m bot` — the same as the `utilibot` command."""

import sys

from bot.cli import main

sys.exit(main())
