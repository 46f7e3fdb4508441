"""Read the seed tables of a seed world from ``seeds/``.

A seed world is the state of the world in one month: ``seeds/`` itself describes 2026-04 and
``seeds/history-2023/`` describes 2023-01 (``sim.inputs.scenario.SEED_WORLDS`` maps months to
folders; a scenario's ``[time] start`` picks one). The tables and their sources are described
in ``seeds/README.md`` and ``seeds/history-2023/README.md``. This module only parses
them into typed columns; turning them into simulation state is ``sim.core.world``'s job.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.calendar import parse_month
from sim.errors import InputError
from sim.inputs.packaged import seeds_dir
from sim.inputs.scenario import SEED_WORLD_MONTH, SEED_WORLDS, Scenario
from sim.vocab import CAMPS, JURISDICTIONS


class SeedError(InputError):
    """A seed table is missing or malformed; the message names the file and column."""


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise SeedError(f"{path}: seed table not found (rebuild with `python seeds/build.py`)")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _floats(rows: list[dict[str, str]], column: str, path: Path) -> np.ndarray:
    for i, row in enumerate(rows, start=2):
        if row.get(column) is None and column in row:
            # csv.DictReader fills the columns a short row lacks with None.
            raise SeedError(f"{path}: row {i}: column {column!r} is missing (the row has "
                            f"fewer fields than the header)")
    try:
        return np.array([float(r[column]) for r in rows], dtype=float)
    except (KeyError, ValueError) as exc:
        raise SeedError(f"{path}: column {column!r}: expected numbers ({exc})") from None


def _months(rows: list[dict[str, str]], column: str, path: Path) -> np.ndarray:
    try:
        return np.array([parse_month(r[column]) for r in rows], dtype=float)
    except (KeyError, ValueError) as exc:
        raise SeedError(f"{path}: column {column!r}: expected dates YYYY-MM-DD ({exc})") from None


def _flags(rows: list[dict[str, str]], column: str, path: Path,
           default: str | None = None) -> np.ndarray:
    """A yes/no column as bools (an empty cell reads as ``default`` where one is given)."""
    values = [(r.get(column) or "").strip() or (default or "") for r in rows]
    bad = [v for v in values if v not in ("yes", "no")]
    if bad:
        raise SeedError(f"{path}: column {column!r}: {bad[0]!r} not in yes, no")
    return np.array([v == "yes" for v in values], dtype=bool)


def _codes(
    rows: list[dict[str, str]], column: str, allowed: tuple[str, ...], path: Path
) -> np.ndarray:
    out = []
    for r in rows:
        value = r.get(column, "").strip()
        if value not in allowed:
            raise SeedError(f"{path}: column {column!r}: {value!r} not in {', '.join(allowed)}")
        out.append(allowed.index(value))
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class LabSeeds:
    """One row per lab. Units: ECI points, FLOP, H100e, USD bn, USD bn/month, USD/Mtok."""

    lab_id: list[str]
    name: list[str]
    camp: np.ndarray  # index into CAMPS
    region: np.ndarray  # index into JURISDICTIONS
    eci: np.ndarray
    release_month: np.ndarray  # month index of the seeded model's release
    training_flop: np.ndarray
    compute_h100e: np.ndarray
    cash_usd_bn: np.ndarray
    revenue_usd_bn_per_month: np.ndarray
    price_usd_per_mtok: np.ndarray
    bench_focus: np.ndarray
    #: USD bn/month the lab's corporate parent funds it with at the start (0 for none).
    parent_usd_bn_per_month: np.ndarray
    #: True where the lab sells its own model through its own API (closed labs always do;
    #: an open lab without one is served only by third-party hosts).
    first_party_api: np.ndarray
    #: True for an entrant slot: the lab is not in the world at the start and enters
    #: stochastically (mechanism 7); its ``cash_usd_bn`` is its seed capital at entry, its
    #: ``eci`` a placeholder below every seeded model.
    entrant: np.ndarray


@dataclass(frozen=True)
class SovereignSeeds:
    """One row per sovereign; ``jurisdiction`` indexes JURISDICTIONS, ``backing`` is (S, L)."""

    sovereign_id: list[str]
    jurisdiction: np.ndarray
    stance_safety: np.ndarray
    pressure_threshold: np.ndarray
    open_interest: np.ndarray
    open_budget_usd_bn_per_month: np.ndarray
    backing: np.ndarray
    #: (S,) region index each sovereign's export-control tightening targets, -1 for none.
    export_target: np.ndarray


@dataclass(frozen=True)
class SegmentSeeds:
    """Buyer segments: demand in trillion tokens/month, utility weights per ECI point."""

    segment: list[str]
    tokens_t_per_month: np.ndarray
    #: Exogenous adoption: monthly growth of demand at constant capability and price.
    growth_per_month: np.ndarray
    #: Demand per ECI point of the frontier: ``exp(capability_elasticity * dF)``.
    capability_elasticity: np.ndarray
    #: Demand against the price of the frontier's capability: ``(I / I0) ** -price_elasticity``.
    price_elasticity: np.ndarray
    w_bench: np.ndarray
    w_robust: np.ndarray
    price_alpha: np.ndarray
    open_pref: np.ndarray
    switch_cost: np.ndarray
    open_only: np.ndarray


@dataclass(frozen=True)
class HostSeeds:
    """Third-party inference hosts that serve open weights: home ``region`` (index into
    JURISDICTIONS), ``markets`` (H, G) bool where they sell, ``cost_factor`` their serving
    cost per token over the model's lab's, ``margin`` their price over their cost minus 1."""

    host_id: list[str]
    name: list[str]
    region: np.ndarray
    markets: np.ndarray
    cost_factor: np.ndarray
    margin: np.ndarray


@dataclass(frozen=True)
class JurisdictionSeeds:
    """Markets, indexed like JURISDICTIONS. ``blocks_closed[g, r]``: closed APIs from region r
    are unavailable to buyers in g."""

    demand_share: np.ndarray
    domestic_pref: np.ndarray
    blocks_closed: np.ndarray
    #: Regional factor on a lab's valuation (x), fit on the region's recorded rounds.
    valuation_multiple: np.ndarray


@dataclass(frozen=True)
class EciHistory:
    """Monthly released-model running maxima of ECI per camp (Epoch), first month and arrays."""

    first_month: int
    closed: np.ndarray
    open: np.ndarray
    open_cn: np.ndarray
    open_us: np.ndarray

    def window(self, camp: str, first_month: int, n_months: int) -> np.ndarray:
        """(n_months,) the camp's record for months ``first_month ..`` (month indices), NaN
        outside the record [ECI points]."""
        values = np.asarray(getattr(self, camp), float)
        out = np.full(n_months, np.nan)
        lo = max(first_month, self.first_month)
        hi = min(first_month + n_months, self.first_month + len(values))
        if lo < hi:
            out[lo - first_month:hi - first_month] = values[lo - self.first_month:
                                                            hi - self.first_month]
        return out


@dataclass(frozen=True)
class Seeds:
    labs: LabSeeds
    sovereigns: SovereignSeeds
    segments: SegmentSeeds
    jurisdictions: JurisdictionSeeds
    history: EciHistory
    hosts: HostSeeds
    world: str = SEED_WORLD_MONTH  # the month these tables describe (a key of SEED_WORLDS)


def load_labs(path: Path) -> LabSeeds:
    rows = _rows(path)
    prices = _floats(rows, "price_usd_per_mtok", path)
    if (prices <= 0).any():
        bad = rows[int(np.argmax(prices <= 0))]["lab_id"]
        raise SeedError(f"{path}: column 'price_usd_per_mtok': lab {bad!r} has a price of "
                        f"{prices[prices <= 0][0]:g}; allowed: a positive USD per million "
                        "tokens")
    return LabSeeds(
        lab_id=[r["lab_id"] for r in rows],
        name=[r["name"] for r in rows],
        camp=_codes(rows, "camp", CAMPS, path),
        region=_codes(rows, "region", JURISDICTIONS, path),
        eci=_floats(rows, "eci", path),
        release_month=_months(rows, "release_date", path),
        training_flop=_floats(rows, "training_flop", path),
        compute_h100e=_floats(rows, "compute_h100e", path),
        cash_usd_bn=_floats(rows, "cash_usd_bn", path),
        revenue_usd_bn_per_month=_floats(rows, "revenue_usd_bn_per_month", path),
        price_usd_per_mtok=_floats(rows, "price_usd_per_mtok", path),
        bench_focus=_floats(rows, "bench_focus", path),
        parent_usd_bn_per_month=_floats(rows, "parent_usd_bn_per_month", path),
        # Optional in your own tables (docs/own-world.md): an open lab without a value is
        # served by hosts only; a closed lab always sells through its own API.
        first_party_api=_flags(rows, "first_party_api", path, default="no") | (
            _codes(rows, "camp", CAMPS, path) == CAMPS.index("closed")),
        entrant=_flags(rows, "entrant", path),
    )


def load_sovereigns(path: Path, lab_ids: list[str]) -> SovereignSeeds:
    rows = _rows(path)
    backing = np.zeros((len(rows), len(lab_ids)), dtype=bool)
    for s, row in enumerate(rows):
        for lab in filter(None, (x.strip() for x in row["backed_labs"].split(";"))):
            if lab not in lab_ids:
                raise SeedError(f"{path}: column 'backed_labs': unknown lab_id {lab!r}")
            backing[s, lab_ids.index(lab)] = True
    target = np.full(len(rows), -1)
    for s, row in enumerate(rows):
        code = row["export_control_target"].strip()
        if code and code not in JURISDICTIONS:
            raise SeedError(f"{path}: column 'export_control_target': unknown jurisdiction "
                            f"{code!r}; allowed: {', '.join(JURISDICTIONS)} or empty")
        target[s] = JURISDICTIONS.index(code) if code else -1
    return SovereignSeeds(
        sovereign_id=[r["sovereign_id"] for r in rows],
        jurisdiction=_codes(rows, "jurisdiction", JURISDICTIONS, path),
        stance_safety=_floats(rows, "stance_safety", path),
        pressure_threshold=_floats(rows, "pressure_threshold", path),
        open_interest=_floats(rows, "open_interest", path),
        open_budget_usd_bn_per_month=_floats(rows, "open_budget_usd_bn_per_month", path),
        backing=backing,
        export_target=target,
    )


def load_segments(path: Path) -> SegmentSeeds:
    rows = _rows(path)
    return SegmentSeeds(
        segment=[r["segment"] for r in rows],
        tokens_t_per_month=_floats(rows, "tokens_t_per_month", path),
        growth_per_month=_floats(rows, "growth_per_month", path),
        capability_elasticity=_floats(rows, "capability_elasticity", path),
        price_elasticity=_floats(rows, "price_elasticity", path),
        w_bench=_floats(rows, "w_bench", path),
        w_robust=_floats(rows, "w_robust", path),
        price_alpha=_floats(rows, "price_alpha", path),
        open_pref=_floats(rows, "open_pref", path),
        switch_cost=_floats(rows, "switch_cost", path),
        open_only=np.array([r["open_only"].strip().lower() == "true" for r in rows]),
    )


def load_jurisdictions(path: Path) -> JurisdictionSeeds:
    rows = _rows(path)
    order = _codes(rows, "jurisdiction", JURISDICTIONS, path)
    if sorted(order.tolist()) != list(range(len(JURISDICTIONS))):
        raise SeedError(f"{path}: column 'jurisdiction': need each of {', '.join(JURISDICTIONS)}")
    n = len(JURISDICTIONS)
    demand = np.zeros(n)
    pref = np.zeros(n)
    multiple = np.ones(n)
    blocks = np.zeros((n, n), dtype=bool)
    for g, row in zip(order, rows, strict=True):
        demand[g] = float(row["demand_share"])
        pref[g] = float(row["domestic_pref"])
        try:
            multiple[g] = float(row["valuation_multiple"])
        except (KeyError, ValueError) as exc:
            raise SeedError(f"{path}: column 'valuation_multiple': expected numbers ({exc})"
                            ) from None
        for region in filter(None, (x.strip() for x in row["blocks_closed_from"].split(";"))):
            if region not in JURISDICTIONS:
                raise SeedError(f"{path}: column 'blocks_closed_from': unknown region {region!r}")
            blocks[g, JURISDICTIONS.index(region)] = True
    return JurisdictionSeeds(demand_share=demand / demand.sum(), domestic_pref=pref,
                             blocks_closed=blocks, valuation_multiple=multiple)


def load_hosts(path: Path) -> HostSeeds:
    rows = _rows(path)
    markets = np.zeros((len(rows), len(JURISDICTIONS)), dtype=bool)
    for h, row in enumerate(rows):
        for code in filter(None, (x.strip() for x in row["markets"].split(";"))):
            if code not in JURISDICTIONS:
                raise SeedError(f"{path}: column 'markets': unknown jurisdiction {code!r}; "
                                f"allowed: {', '.join(JURISDICTIONS)}, separated by ';'")
            markets[h, JURISDICTIONS.index(code)] = True
    hosts = HostSeeds(
        host_id=[r["host_id"] for r in rows],
        name=[r["name"] for r in rows],
        region=_codes(rows, "region", JURISDICTIONS, path),
        markets=markets,
        cost_factor=_floats(rows, "cost_factor", path),
        margin=_floats(rows, "margin", path),
    )
    if (hosts.cost_factor <= 0).any() or (hosts.margin < 0).any():
        raise SeedError(f"{path}: columns 'cost_factor' and 'margin': need cost_factor > 0 "
                        "and margin >= 0")
    return hosts


def load_history(path: Path) -> EciHistory:
    rows = _rows(path)

    def column(name: str) -> np.ndarray:
        values = [float(r[name]) if r[name] else np.nan for r in rows]
        return np.fmax.accumulate(np.array(values, dtype=float))

    return EciHistory(
        first_month=parse_month(rows[0]["month"]),
        closed=column("closed"),
        open=column("open"),
        open_cn=column("open_cn"),
        open_us=column("open_us"),
    )


def load_eci_record() -> EciHistory:
    """Epoch's whole ECI record as shipped with the current seed world
    (``seeds/derived/eci_frontier_monthly.csv``, 2023-01..2026-03), whatever seed world a
    scenario starts from. A seed world's own ``history`` holds only the record *before* its
    start (blank for ``history-2023``); figures draw this one over the simulated months."""
    return _eci_record(str(seed_world_dir() / "derived" / "eci_frontier_monthly.csv"))


@functools.cache
def _eci_record(path: str) -> EciHistory:
    return load_history(Path(path))


def seed_world_dir(start: str = SEED_WORLD_MONTH) -> Path:
    """The folder of the seed world that describes month ``start`` (``YYYY-MM``)."""
    if start not in SEED_WORLDS:
        raise SeedError(f"no seed world for {start}; seed worlds exist for "
                        f"{', '.join(SEED_WORLDS)}")
    return (seeds_dir() / SEED_WORLDS[start]).resolve()


def load_seeds(folder: Path | None = None, *, start: str = SEED_WORLD_MONTH,
               overlay: Path | None = None) -> Seeds:
    """Load every seed table of the world as of ``start`` from ``folder`` (default: that
    world's folder, :func:`seed_world_dir`).

    ``overlay``: a folder of your own seed tables (``opengap run --seeds DIR``, or a
    scenario's ``seeds`` key). Each table it holds (``labs.csv``, ``sovereigns.csv``,
    ``segments.csv``, ``jurisdictions.csv``, ``derived/eci_frontier_monthly.csv``) replaces
    the shipped one; tables it lacks come from the shipped world, so adding a lab is one
    edited ``labs.csv`` (docs/own-world.md)."""
    folder = folder or seed_world_dir(start)
    if overlay is not None and not Path(overlay).is_dir():
        raise SeedError(f"{overlay}: seeds folder not found (give a folder holding your own "
                        "labs.csv, sovereigns.csv, segments.csv or jurisdictions.csv)")

    def table(name: str) -> Path:
        own = Path(overlay) / name if overlay is not None else None
        return own if own is not None and own.is_file() else folder / name

    if overlay is not None and not any(Path(overlay, n).is_file() for n in SEED_TABLES):
        raise SeedError(f"{overlay}: holds none of the seed tables {', '.join(SEED_TABLES)}")
    labs = load_labs(table("labs.csv"))
    return Seeds(
        labs=labs,
        sovereigns=load_sovereigns(table("sovereigns.csv"), labs.lab_id),
        segments=load_segments(table("segments.csv")),
        jurisdictions=load_jurisdictions(table("jurisdictions.csv")),
        history=load_history(table("derived/eci_frontier_monthly.csv")),
        hosts=load_hosts(table("hosts.csv")),
        world=start,
    )


def seeds_for(scenario: Scenario, overlay: Path | None = None) -> Seeds:
    """The seed tables a scenario runs on: the shipped world of its start month, with your
    own tables from ``overlay`` (``--seeds DIR``) or else the scenario's ``seeds`` key."""
    own = overlay if overlay is not None else (
        Path(scenario.seeds) if scenario.seeds is not None else None)
    return load_seeds(start=scenario.time.start, overlay=own)


#: The tables of a seed world, relative to its folder.
SEED_TABLES = ("labs.csv", "sovereigns.csv", "segments.csv", "jurisdictions.csv",
               "hosts.csv", "derived/eci_frontier_monthly.csv")


def check_seed_world(seeds: Seeds, start: str) -> None:
    """Raise :class:`SeedError` unless ``seeds`` describe the month a scenario starts in."""
    if seeds.world != start:
        raise SeedError(f"the scenario starts in {start} but the seeds describe {seeds.world}; "
                        f"load them with load_seeds(start={start!r})")
