"""The figure files ``opengap run`` writes, by figure, in the order people open them.

Apart from :mod:`sim.report.figures` so that a command can name (and check or clear) these
files without importing matplotlib, which takes about half a second.
"""

from __future__ import annotations

#: Figure key -> PNG file name, in the order the figures are drawn and people open them.
PLOT_FILES: dict[str, str] = {
    "frontier": "frontier.png",
    "gap": "gap.png",
    "shares": "shares.png",
    "shares_by_segment": "shares_by_segment.png",
    "labs": "labs.png",
    "policy": "policy.png",
}
