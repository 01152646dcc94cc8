"""``python -m cairn sync`` is ``cairn sync``."""

from .cli import main

raise SystemExit(main())
