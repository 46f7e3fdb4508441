"""Bets: the shipped file is valid and complete, a user adds a bet by editing data only, bad
files fail with one line naming the field, and scoring follows the documented rules."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli.bets import DEFAULT_BETS_FILE
from sim.cli.main import main
from sim.core.engine import simulate
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.studies import bets as bets_mod

TINY = ('extends = "baseline"\nname = "tiny"\n\n[time]\nend = "2027-03"\n\n'
        "[population]\nbuyers_per_segment = 6\n")
TINY_BAN = ('extends = "tiny"\nname = "tiny-ban"\n\n[[events]]\nkind = "ban"\n'
            'month = "2026-06"\nsovereign = "US"\nthreshold_flop = 1.0e24\nenforcement = 1.0\n')

NEW_BET = '''
[[bets]]
id = "my-new-bet"
title = "Open token share stays above 10%"
statement = "A bet added by a user without touching code."
scenario = "tiny"
[[bets.conditions]]
indicator = "min"
series = "token_share"
segment = "all"
camp = "open"
start = "2026-06"
end = "2027-03"
holds_if = "> 0.1"

[[bets]]
id = "ban-cuts-us-large-open-use"
title = "A ban cuts US use of large open models"
statement = "Paired: the ban lowers US large-open tokens in the same run."
scenario = "tiny-ban"
control = "tiny"
contrast = "difference"
[[bets.conditions]]
indicator = "at"
series = "large_open_tokens"
jurisdiction = "US"
month = "2027-03"
holds_if = "<= 0"
'''


def _seg_sov(seeds: Seeds) -> dict[str, list[str]]:
    return {"segments": list(seeds.segments.segment),
            "sovereigns": list(seeds.sovereigns.sovereign_id)}


def test_shipped_bets_file_defines_the_essays_bets(seeds: Seeds) -> None:
    bets = bets_mod.load_bets(DEFAULT_BETS_FILE, **_seg_sov(seeds))
    assert len(bets) >= 16
    by_id = {b.id: b for b in bets}
    assert by_id["us-ban-leaks"].scenario == "us-open-ban"
    assert by_id["distillation-policy-not-decisive"].control == "baseline"
    # scored on the baseline's random shocks, not on a scheduled wave that decides it
    assert by_id["safety-shocks-bring-regulation"].scenario == "baseline"
    assert len(by_id["cn-funding-difficulties-first"].conditions) == 2
    assert len(by_id["us-open-regain-share"].conditions) == 2
    assert {"new-funding-structures", "closed-draw-ahead", "open-market-constricts"} <= set(by_id)
    # every bet quotes the essay sentence it encodes, right above its table
    text = DEFAULT_BETS_FILE.read_text(encoding="utf-8")
    assert text.count("# essay: ") == len(bets)
    for bet in bets:
        assert bet.describe() and bet.conditions[0].unit


def test_a_user_adds_a_bet_by_editing_the_data_file_only(
        scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (scenario_dir / "tiny.toml").write_text(TINY, encoding="utf-8")
    (scenario_dir / "tiny-ban.toml").write_text(TINY_BAN, encoding="utf-8")
    bets_file = scenario_dir / "bets.toml"
    bets_file.write_text(NEW_BET, encoding="utf-8")
    out = tmp_path / "card"
    code = main(["bets", "--bets-file", str(bets_file), "--runs", "4", "--seed", "1",
                 "--out", str(out), "--scenarios", "tiny-ban"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = list(csv.DictReader(io.StringIO((out / "scorecard.csv").read_text(encoding="utf-8"))))
    assert {r["id"] for r in rows} == {"my-new-bet", "ban-cuts-us-large-open-use"}
    assert {r["column"] for r in rows} == {"stated", "tiny-ban"}
    new = {r["column"]: r for r in rows if r["id"] == "my-new-bet"}
    assert new["stated"]["runs"] == "4" and 0 <= float(new["stated"]["probability"]) <= 1
    # stated in "tiny", a world of its own: under tiny-ban it is not asked (issue 21)
    assert new["tiny-ban"]["applies"] == "0" and new["tiny-ban"]["probability"] == ""
    paired = {r["column"]: r for r in rows if r["id"] == "ban-cuts-us-large-open-use"}
    assert paired["stated"]["world"] == "tiny-ban vs tiny"
    assert paired["tiny-ban"]["world"] == "tiny-ban vs tiny"
    # A ban grandfathers large open models already released: US buyers can move to them, so
    # in some runs it adds large-open use; in most it cuts it.
    assert float(paired["stated"]["probability"]) >= 0.5
    assert "my-new-bet" in (out / "scorecard.md").read_text()
    assert (out / "scorecard.png").stat().st_size > 0
    assert "Open token share stays above 10%" in captured.out


GOOD = {"id": "b", "title": "t", "statement": "s"}
COND = {"indicator": "mean", "series": "gap", "pair": "closed_vs_open", "holds_if": "> 0"}


@pytest.mark.parametrize("bet, cond, expected", [
    ({}, {"indicator": "x"}, "bets[1].conditions[0].indicator: unknown indicator 'x'; "
     "allowed: at, mean"),
    ({}, {"series": "nope"}, "bets[1].conditions[0].series: unknown series 'nope'; allowed:"),
    ({}, {"pair": "a_vs_b"}, "bets[1].conditions[0].pair: unknown pair 'a_vs_b'; allowed: "
     "closed_vs_open"),
    ({}, {"start": "2027-13"}, "bets[1].conditions[0].start: month must be 01..12"),
    ({}, {"start": "2027-05", "end": "2027-01"}, "bets[1].conditions[0].end: must not be "
     "before start"),
    ({}, {"holds_if": "about 3"}, "bets[1].conditions[0].holds_if: expected an operator"),
    ({}, {"colour": "red"}, "bets[1].conditions[0].colour: unknown key for indicator 'mean'"),
    ({}, {"month": "2027-01"}, "bets[1].conditions[0].month: unknown key"),
    ({"scenario": "atlantis"}, {}, "bets[1].scenario: no such scenario 'atlantis'"),
    ({"contrast": "ratio"}, {}, "bets[1].contrast: only allowed with a control scenario"),
    ({"id": "a"}, {}, "bets[1].id: duplicate id 'a'"),
    ({"odds": 3}, {}, "bets[1].odds: unknown key; allowed keys here: id, title"),
])
def test_bad_bets_fail_with_one_line_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bet: dict, cond: dict,
        expected: str) -> None:
    def table(d: dict) -> str:
        return "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in d.items())

    first = {**GOOD, "id": "a"}
    text = (f"[[bets]]\n{table(first)}[[bets.conditions]]\n{table(COND)}\n"
            f"[[bets]]\n{table({**GOOD, **bet})}[[bets.conditions]]\n"
            f"{table({**COND, **cond})}")
    path = tmp_path / "bets.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "never"
    code = main(["bets", "--bets-file", str(path), "--runs", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: {expected}" in err.replace("opengap: error: ", "")
    assert not out.exists()


@pytest.mark.parametrize("text, expected", [
    ("[[bets]\n", "not valid TOML"),
    ("title = 'x'\n", "title: unknown key; allowed keys here: bets"),
    ("[[bets]]\nid = 'a'\ntitle = 't'\nstatement = 's'\n", "bets[0].conditions: required"),
])
def test_malformed_bets_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                              expected: str) -> None:
    path = tmp_path / "bets.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["bets", "--bets-file", str(path), "--runs", "1",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert main(["bets", "--bets-file", str(tmp_path / "missing.toml"), "--runs", "1"]) == 2
    assert "bets file not found" in capsys.readouterr().err


@given(n=st.integers(1, 400), data=st.data())
@settings(max_examples=60, deadline=None)
def test_jeffreys_interval_brackets_the_share(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lo, hi = bets_mod.jeffreys_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert (lo == 0.0) == (k == 0) and (hi == 1.0) == (k == n)


@pytest.mark.parametrize("k, n", [(5, 10), (2, 20), (19, 20)])
def test_jeffreys_interval_matches_the_beta_posterior_by_quadrature(k: int, n: int) -> None:
    # Independent of scipy: integrate the Beta(k + 1/2, n - k + 1/2) density on a fine grid.
    x = np.linspace(0.0, 1.0, 400_001)
    cdf = np.cumsum(x ** (k - 0.5) * (1 - x) ** (n - k - 0.5))
    cdf /= cdf[-1]
    lo, hi = bets_mod.jeffreys_interval(k, n)
    assert lo == pytest.approx(x[np.searchsorted(cdf, 0.05)], abs=1e-4)
    assert hi == pytest.approx(x[np.searchsorted(cdf, 0.95)], abs=1e-4)


def test_scoring_rules(small_scenario: Scenario, seeds: Seeds) -> None:
    res = simulate(small_scenario, n_runs=5, seed=4, seeds=seeds)
    worlds = {"baseline": res}

    def bet(cond: dict, **kw: object) -> bets_mod.Bet:
        data = {"bets": [{**GOOD, **kw, "conditions": [cond]}]}
        return bets_mod.parse_bets(data, source="t", **_seg_sov(seeds))[0]

    always = bet({**COND, "holds_if": "> -1000"})
    cell = bets_mod.score_bet(always, bets_mod.STATED, worlds)
    assert (cell.holds, cell.runs, cell.probability) == (5, 5, 1.0)
    # Paired against itself: the difference is exactly 0 in every run (common random numbers).
    self_paired = bet({**COND, "holds_if": "<= 0"}, control="baseline")
    assert bets_mod.score_bet(self_paired, bets_mod.STATED, worlds).probability == 1.0
    # Undefined values count as not holding; windows outside the horizon are not scored.
    undefined = bet({"indicator": "yoy_min_change", "series": "gap", "pair": "closed_vs_open",
                     "holds_if": "> -1000"})
    cell = bets_mod.score_bet(undefined, bets_mod.STATED, worlds)
    assert cell.holds == 0 and cell.undefined_runs == 5
    late = bet({**COND, "start": "2029-01"})
    assert not bets_mod.score_bet(late, bets_mod.STATED, worlds).scored
    # A requested scenario replaces the baseline for a bet about any world; a paired bet (or
    # one stated in another scenario) is scored only in its own world (issue 21).
    assert always.worlds("other") == ("other", None)
    assert self_paired.worlds("other") is None
    assert self_paired.worlds("baseline") == ("baseline", "baseline")
    assert always.worlds(bets_mod.STATED) == ("baseline", None)
    assert bets_mod.needed_worlds([self_paired], [bets_mod.STATED, "other"]) == ["baseline"]
    cell = bets_mod.score_bet(self_paired, "other", worlds)
    assert not cell.applies and not cell.scored and cell.world == "not this world"
    # holding in every run: decided by the inputs, with the indicator's range
    cell = bets_mod.score_bet(always, bets_mod.STATED, worlds)
    assert cell.decided and "decided by the inputs: holds in all 5 runs" in cell.decided_text()
    assert np.isnan(bets_mod.score_bet(late, bets_mod.STATED, worlds).probability)


def test_unknown_requested_scenario_fails_before_simulating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    code = main(["bets", "--runs", "2", "--out", str(out), "--scenarios", "atlantis"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "atlantis" in err and "shipped:" in err
    assert not out.exists()


def test_drivers_find_the_input_that_moves_a_bet_and_its_holds_when_rule(
        seeds: Seeds) -> None:
    data = {"bets": [{**GOOD, "conditions": [COND]}]}
    bet = bets_mod.parse_bets(data, source="t", **_seg_sov(seeds))[0]
    rng = np.random.default_rng(0)  # fixed: the test cannot fail by chance
    n = 200
    x = rng.uniform(0, 1, n)
    noise = rng.uniform(0, 1, n)
    values = x - 0.5 + 0.1 * rng.standard_normal(n)  # the bet holds (value > 0) when x > 0.5
    cell = bets_mod.Cell(bet=bet, column=bets_mod.STATED, world="w", runs=n,
                         holds=int((values > 0).sum()), values=values, outcomes=values > 0)
    inputs = {"p.x": ("parameter", x), "p.noise": ("parameter", noise),
              "flat": ("event", np.zeros(n))}
    found, rule = bets_mod.bet_drivers(cell, inputs)
    assert [d.name for d in found] == ["p.x"] and found[0].rho > 0.9
    assert rule is not None and rule.name == "p.x" and rule.op == ">"
    assert 0.4 <= rule.cut <= 0.6 and rule.p_in > 0.9 > 0.1 > rule.p_out
    assert rule.text().startswith("holds when p.x > ")
    # Only noise: no driver is reported, and no rule
    cell = bets_mod.Cell(bet=bet, column=bets_mod.STATED, world="w", runs=n,
                         holds=int((noise > 0.5).sum()), values=noise - 0.5,
                         outcomes=noise > 0.5)
    assert bets_mod.bet_drivers(cell, {"p.x": ("parameter", x)}) == ([], None)
