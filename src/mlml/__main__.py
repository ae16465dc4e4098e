"""``python -m mlml`` (and ``torchrun ... -m mlml train``): the command line."""

from mlml.cli import main

raise SystemExit(main())
