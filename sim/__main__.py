"""``python -m sim`` is the same as the ``opengap`` command."""

from sim.cli.main import main

raise SystemExit(main())
