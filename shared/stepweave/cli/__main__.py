"""``python -m stepweave.cli``."""

from stepweave.cli.app import main

raise SystemExit(main())
