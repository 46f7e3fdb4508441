"""``python -m sim`` is the same as the ``opengap`` command."""

from sim.cli import main

raise SystemExit(main())
