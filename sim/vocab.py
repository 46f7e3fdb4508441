"""The shared codes of the model, defined once: camps, jurisdictions, policies, camp pairs.

Every layer reads them from here; seed tables, scenario files and outputs use exactly these
strings. Order matters: arrays indexed by camp, jurisdiction or policy follow these tuples.
"""

from __future__ import annotations

from typing import Literal

#: Lab camps, the order of every per-camp array axis (``C4``): closed labs, then the
#: open-weight labs by home region.
CAMPS: tuple[str, ...] = ("closed", "open_cn", "open_us", "open_other")
CLOSED = "closed"
#: The open-weight lab camps (CAMPS minus closed).
OPEN_CAMPS: tuple[str, ...] = tuple(c for c in CAMPS if c != CLOSED)
#: Indices of :data:`OPEN_CAMPS` in :data:`CAMPS`.
OPEN_CAMP_INDEX: tuple[int, ...] = tuple(CAMPS.index(c) for c in OPEN_CAMPS)
#: The label of all open-weight camps together.
ALL_OPEN = "open"
#: Camps reported in outputs (``C5``): the four lab camps plus ``open`` (any open camp).
OUTPUT_CAMPS: tuple[str, ...] = (CLOSED, ALL_OPEN, *OPEN_CAMPS)

#: Jurisdictions (sovereigns and markets) and lab home regions (``G``); same codes as seeds/.
Jurisdiction = Literal["US", "CN", "EU", "UK", "GULF", "IN", "JPKR"]
JURISDICTIONS: tuple[str, ...] = ("US", "CN", "EU", "UK", "GULF", "IN", "JPKR")

#: Policies a sovereign can enact when its pressure is above its threshold, in the order of
#: every per-policy array axis (``WorldState.policy_enacted``, ``policy_change``, draws).
POLICIES: tuple[str, ...] = ("ban", "distillation_crackdown", "export_tightening")
N_POLICIES = len(POLICIES)

#: Camp pairs for gaps and lags: name -> (leading output camp, trailing output camp).
PAIRS: dict[str, tuple[str, str]] = {
    "closed_vs_open": (CLOSED, ALL_OPEN),
    "closed_vs_cn": (CLOSED, "open_cn"),
    "closed_vs_us": (CLOSED, "open_us"),
    "cn_vs_us": ("open_cn", "open_us"),
}

#: The label for "every segment / camp / sovereign" in tables and parameters.
ALL = "all"

#: The open-weights-only segment whose growth rate each scenario sets.
LOCAL_AGENTS = "local_agents"
