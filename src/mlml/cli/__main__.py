"""``python -m mlml.cli``: the command line."""

from mlml.cli import main

raise SystemExit(main())
