"""The one error type for mistakes a user can fix.

Every input the user gives (a scenario or seed table, a sweep or calibration spec, a bets
file, an outcome name, a command-line argument, an output folder) is checked before work
starts; a mistake raises a subclass of :class:`InputError` whose ``str`` is one line naming
the file, the field and what is allowed. The command line reports it as
``opengap: error: <message>`` with exit status 2 (:data:`USAGE_EXIT`), with no traceback.
"""

from __future__ import annotations

#: Exit status of a command stopped by an :class:`InputError` (the argparse convention).
USAGE_EXIT = 2


class InputError(ValueError):
    """A mistake in what the user gave; ``str(err)`` is one line saying where and what is
    allowed."""
