#!/usr/bin/env python3
"""Rebuild seeds/derived/ from seeds/raw/ (deterministic; stdlib only).

    python seeds/build.py

Data: Epoch AI, Data on AI Models / Data on AI Benchmarking / Data on Frontier AI
Data Centers (epoch.ai), CC BY 4.0.

Outputs (see seeds/README.md):
    derived/eci_models.csv            one row per ECI-scored model (best version)
    derived/eci_frontier_monthly.csv  running-max ECI by camp, 2023-01..2026-03
    derived/eci_compute_fit.csv       OLS eci ~ log10(FLOP) + years since 2024-01-01
    derived/gap_history.csv           monthly gaps (points) and lag (months)
It also cross-checks seeds/labs.csv against derived/eci_models.csv (warnings only).
"""
from __future__ import annotations

import csv
import math
import os
import sys
from datetime import date

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = os.path.join(HERE, "raw")
DERIVED = os.path.join(HERE, "derived")

ECI_FILE = "epoch_capabilities_index_2026-03-09.csv"
NOTABLE_FILE = "epoch_notable_ai_models_2026-01_trimmed.csv"
LARGE_FILE = "epoch_large_scale_ai_models_2026-01_trimmed.csv"

FIRST_MONTH = (2023, 1)
LAST_MONTH = (2026, 3)
FIT_EPOCH = date(2024, 1, 1)

# ---------------------------------------------------------------------------
# Accessibility rules for rows whose "Model accessibility" is blank.
# Every blank-accessibility "Model name" in the 2026-03-09 ECI file is listed here
# (checked by hand; the script fails loudly on a blank name it does not know, so a
# new data drop cannot be silently mis-classified).
#   value = "open" (open weights) or "closed" (API / hosted only)
BLANK_ACCESS_BY_NAME = {
    # closed: served only through first-party API / apps
    "GPT-5.4": "closed",
    "GPT-5.4 Pro": "closed",
    "GPT-5.2 Pro": "closed",
    "o3-pro": "closed",
    "GPT-3.5 (davinci-003)": "closed",
    "GPT-3 6.7B": "closed",          # OpenAI API-only (never released weights)
    "GPT-3 Medium": "closed",
    "GPT-3 XL": "closed",
    "InstructGPT 350M": "closed",
    "Claude Opus 4.6": "closed",
    "Claude Sonnet 4.6": "closed",
    "Gemini 3 Flash": "closed",
    "Gemini 3.1 Pro": "closed",
    # open weights
    "GLM-5": "open",                 # Zhipu released weights (MIT) on Hugging Face
    "DeepSeek-V3.2": "open",         # weights on Hugging Face (MIT)
    "INTELLECT-1": "open",           # Prime Intellect, Apache-2.0 weights
    "video-SALMONN 2+": "open",      # research release with weights (unscored anyway)
}
# Fallback by organization for blank rows not named above (brief's rule).
BLANK_ACCESS_BY_ORG = [
    ("Gemma", "open"),               # checked against the model name first
    ("OpenAI", "closed"),
    ("Anthropic", "closed"),
    ("Google", "closed"),
    ("xAI", "closed"),
    ("DeepSeek", "open"),
    ("Zhipu", "open"),
    ("Qwen", "open"),
    ("Alibaba", "open"),
    ("Moonshot", "open"),
    ("Kimi", "open"),
]


def blank_access_rule(name: str, org: str) -> str | None:
    if name in BLANK_ACCESS_BY_NAME:
        return BLANK_ACCESS_BY_NAME[name]
    if "gemma" in name.lower():
        return "open"
    for key, val in BLANK_ACCESS_BY_ORG:
        if key.lower() in org.lower() or key.lower() in name.lower():
            return val
    return None


def openness(access: str, name: str, org: str) -> str | None:
    """'open', 'closed', 'unreleased' or None (unclassifiable)."""
    a = access.strip()
    if a.startswith("Open weights"):
        return "open"
    if a.startswith("API access") or a.startswith("Hosted access"):
        return "closed"
    if a == "Unreleased":
        return "unreleased"
    if a == "":
        return blank_access_rule(name, org)
    return None


def first_country(country: str) -> str:
    return country.split(",")[0].strip()


def camp_of(is_open: bool, country: str) -> str:
    if not is_open:
        return "closed"
    c = first_country(country)
    if c == "China":
        return "open_cn"
    if c == "United States of America":
        return "open_us"
    return "open_other"


# ---------------------------------------------------------------------------
def read_csv(name: str) -> list[dict]:
    with open(os.path.join(RAW, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(name: str, header: list[str], rows: list[list]) -> None:
    os.makedirs(DERIVED, exist_ok=True)
    with open(os.path.join(DERIVED, name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def fnum(s: str) -> float | None:
    s = (s or "").strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def fmt(x: float | None, nd: int = 4) -> str:
    if x is None:
        return ""
    return f"{x:.{nd}f}"


def fmt_flop(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def month_key(d: str) -> tuple[int, int]:
    return int(d[0:4]), int(d[5:7])


def month_str(m: tuple[int, int]) -> str:
    return f"{m[0]:04d}-{m[1]:02d}"


def month_range(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    y, m = a
    while (y, m) <= b:
        out.append((y, m))
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def month_diff(a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - b[0]) * 12 + (a[1] - b[1])


# ---------------------------------------------------------------------------
def build_eci_models() -> list[dict]:
    rows = read_csv(ECI_FILE)
    # training compute from Epoch's notable / large-scale files, by exact model name,
    # used only when no version of the model in the ECI file carries a FLOP figure
    flop_by_name: dict[str, float] = {}
    for fn in (LARGE_FILE, NOTABLE_FILE):
        for r in read_csv(fn):
            v = fnum(r.get("Training compute (FLOP)", ""))
            n = r["Model"].strip()
            if v is not None and n not in flop_by_name:
                flop_by_name[n] = v

    unknown = set()
    best: dict[tuple[str, str], dict] = {}
    flop_any: dict[tuple[str, str], float] = {}
    for r in rows:
        eci = fnum(r["ECI Score"])
        if eci is None:
            continue
        name, org = r["Model name"].strip(), r["Organization"].strip()
        op = openness(r["Model accessibility"], name, org)
        if op is None:
            unknown.add((name, org, r["Model accessibility"]))
            continue
        if op == "unreleased":
            continue
        key = (name, org)
        fl = fnum(r["Training compute (FLOP)"])
        if fl is not None:
            flop_any[key] = max(fl, flop_any.get(key, 0.0))
        rec = {
            "model": name,
            "organization": org,
            "country": r["Country"].strip(),
            "release_date": r["Release date"].strip(),
            "eci": eci,
            "accessibility": r["Model accessibility"].strip(),
            "is_open": op == "open",
        }
        cur = best.get(key)
        if cur is None:
            best[key] = rec
            continue
        # keep the highest score; ties -> a dated row, then the earliest date
        def rank(x):
            return (x["eci"], x["release_date"] != "", "" if not x["release_date"] else
                    "".join(chr(255 - ord(c)) for c in x["release_date"]))
        if rank(rec) > rank(cur):
            best[key] = rec
    if unknown:
        sys.exit(f"unclassified accessibility rows, add them to BLANK_ACCESS_BY_NAME: {sorted(unknown)}")

    out = []
    for key, rec in best.items():
        fl = flop_any.get(key)
        if fl is None:
            fl = flop_by_name.get(rec["model"])
        rec["training_flop"] = fl
        if rec["accessibility"] == "":
            rec["accessibility"] = "(blank; rule: %s)" % ("open weights" if rec["is_open"] else "closed")
        rec["camp"] = camp_of(rec["is_open"], rec["country"])
        out.append(rec)
    out.sort(key=lambda x: (x["release_date"] or "9999", x["organization"], x["model"]))
    write_csv(
        "eci_models.csv",
        ["model", "organization", "country", "release_date", "eci", "accessibility", "is_open", "camp", "training_flop"],
        [[x["model"], x["organization"], x["country"], x["release_date"], fmt(x["eci"]), x["accessibility"],
          "true" if x["is_open"] else "false", x["camp"], fmt_flop(x["training_flop"])] for x in out],
    )
    return out


# ---------------------------------------------------------------------------
SERIES = {
    "closed": lambda c: c == "closed",
    "open": lambda c: c != "closed",
    "open_cn": lambda c: c == "open_cn",
    "open_us": lambda c: c == "open_us",
}


def build_frontier(models: list[dict]) -> tuple[list[tuple[int, int]], dict[str, list]]:
    dated = [m for m in models if m["release_date"]]
    start = min(month_key(m["release_date"]) for m in dated)
    months_all = month_range(min(start, FIRST_MONTH), LAST_MONTH)
    series = {}
    for name, pred in SERIES.items():
        vals, cur = [], None
        ms = sorted((month_key(m["release_date"]), m["eci"]) for m in dated if pred(m["camp"]))
        i = 0
        for mo in months_all:
            while i < len(ms) and ms[i][0] <= mo:
                cur = ms[i][1] if cur is None else max(cur, ms[i][1])
                i += 1
            vals.append(cur)
        series[name] = vals
    idx0 = months_all.index(FIRST_MONTH)
    months = months_all[idx0:]
    out = {k: v[idx0:] for k, v in series.items()}
    write_csv(
        "eci_frontier_monthly.csv",
        ["month", "closed", "open", "open_cn", "open_us"],
        [[month_str(mo)] + [fmt(out[k][i]) for k in ("closed", "open", "open_cn", "open_us")]
         for i, mo in enumerate(months)],
    )
    return months_all, series


def build_gaps(months_all, series) -> list[list]:
    rows = []
    closed = series["closed"]
    for i, mo in enumerate(months_all):
        if mo < FIRST_MONTH:
            continue
        c, o = closed[i], series["open"][i]
        cn, us = series["open_cn"][i], series["open_us"][i]
        def g(a, b):
            return (a - b) if a is not None and b is not None else None
        lag = None
        if c is not None and o is not None:
            for j in range(i + 1):
                if closed[j] is not None and closed[j] >= o - 1e-9:
                    lag = month_diff(mo, months_all[j])
                    break
        rows.append([month_str(mo), fmt(g(c, o)), fmt(g(c, cn)), fmt(g(c, us)), "" if lag is None else lag])
    write_csv("gap_history.csv", ["month", "gap_closed_open", "gap_closed_cn", "gap_closed_us", "lag_closed_open_months"], rows)
    return rows


# ---------------------------------------------------------------------------
def ols(X: list[list[float]], y: list[float]):
    """Plain OLS via normal equations (Gauss-Jordan). Returns beta, stderr, r2."""
    n, k = len(X), len(X[0])
    xtx = [[sum(X[r][i] * X[r][j] for r in range(n)) for j in range(k)] for i in range(k)]
    xty = [sum(X[r][i] * y[r] for r in range(n)) for i in range(k)]
    # invert xtx
    a = [row[:] + [1.0 if i == j else 0.0 for j in range(k)] for i, row in enumerate(xtx)]
    for c in range(k):
        p = max(range(c, k), key=lambda r: abs(a[r][c]))
        a[c], a[p] = a[p], a[c]
        pv = a[c][c]
        a[c] = [v / pv for v in a[c]]
        for r in range(k):
            if r != c:
                f = a[r][c]
                a[r] = [vr - f * vc for vr, vc in zip(a[r], a[c], strict=False)]
    inv = [row[k:] for row in a]
    beta = [sum(inv[i][j] * xty[j] for j in range(k)) for i in range(k)]
    resid = [y[r] - sum(beta[i] * X[r][i] for i in range(k)) for r in range(n)]
    sse = sum(e * e for e in resid)
    ybar = sum(y) / n
    sst = sum((v - ybar) ** 2 for v in y)
    s2 = sse / (n - k)
    se = [math.sqrt(s2 * inv[i][i]) for i in range(k)]
    return beta, se, 1.0 - sse / sst


def years_since_epoch(d: str) -> float:
    y, m, dd = (int(p) for p in d.split("-"))
    return (date(y, m, dd) - FIT_EPOCH).days / 365.25


def build_fit(models: list[dict]) -> list[list]:
    pts = [m for m in models if m["training_flop"] and m["release_date"]]
    X = [[1.0, math.log10(m["training_flop"]), years_since_epoch(m["release_date"])] for m in pts]
    y = [m["eci"] for m in pts]
    beta, se, r2 = ols(X, y)
    rows = []
    note_all = ("all ECI-scored models with training FLOP; eci = a + b*log10(FLOP) + c*years_since_2024-01-01; "
                "c is the algorithmic/post-training drift per year at fixed FLOP")
    for name, b, s in zip(("a", "b", "c"), beta, se, strict=False):
        rows.append([name, fmt(b), fmt(s), len(pts), fmt(r2), note_all])

    # frontier-only fit: models that set a new running max of their own camp group
    # (closed vs open) when released
    fr = []
    for grp in (lambda m: m["camp"] == "closed", lambda m: m["camp"] != "closed"):
        cur = -1e9
        for m in sorted((m for m in models if grp(m) and m["release_date"]), key=lambda m: (m["release_date"], -m["eci"])):
            if m["eci"] > cur:
                cur = m["eci"]
                if m["training_flop"]:
                    fr.append(m)
    fit_fr = None
    if len(fr) >= 8:
        Xf = [[1.0, math.log10(m["training_flop"]), years_since_epoch(m["release_date"])] for m in fr]
        yf = [m["eci"] for m in fr]
        fit_fr = ols(Xf, yf)
        bf, sf, r2f = fit_fr
        note_fr = ("frontier-setting models only (new running max of closed or of open when released) with FLOP; "
                   "informative only as a check on the plain fit")
        for name, b, s in zip(("a_frontier", "b_frontier", "c_frontier"), bf, sf, strict=False):
            rows.append([name, fmt(b), fmt(s), len(fr), fmt(r2f), note_fr])
    write_csv("eci_compute_fit.csv", ["param", "value", "stderr", "n", "r2", "note"], rows)
    return beta, se, r2, len(pts), fit_fr, len(fr)


# ---------------------------------------------------------------------------
def check_labs(models: list[dict]) -> list[str]:
    path = os.path.join(HERE, "labs.csv")
    if not os.path.exists(path):
        return ["labs.csv not found (skipped check)"]
    with open(path, newline="", encoding="utf-8") as f:
        labs = list(csv.DictReader(f))
    by = {(m["model"], m["organization"]): m for m in models}
    msgs = []
    for lab in labs:
        if lab["released_model"] == "prior":
            continue
        m = by.get((lab["released_model"], lab["eci_org"]))
        if m is None:
            msgs.append(f"{lab['lab_id']}: {lab['released_model']!r}/{lab['eci_org']!r} not in eci_models")
            continue
        if abs(m["eci"] - float(lab["eci"])) > 0.05 or m["release_date"] != lab["release_date"]:
            msgs.append(f"{lab['lab_id']}: eci/date mismatch ({m['eci']:.2f} {m['release_date']})")
        if m["camp"] != lab["camp"]:
            msgs.append(f"{lab['lab_id']}: camp {lab['camp']} vs model camp {m['camp']}")
        # best model of that camp for that org by the ECI cutoff?
        better = [x for x in models if x["organization"] == lab["eci_org"] and x["camp"] == lab["camp"]
                  and x["eci"] > m["eci"] + 1e-9]
        if better:
            msgs.append(f"{lab['lab_id']}: better same-camp model exists: {better[0]['model']} {better[0]['eci']:.2f}")
    return msgs


def main() -> None:
    models = build_eci_models()
    months_all, series = build_frontier(models)
    build_gaps(months_all, series)
    beta, se, r2, n, fit_fr, nfr = build_fit(models)

    print(f"eci_models: {len(models)} models "
          f"({sum(m['camp'] == 'closed' for m in models)} closed, "
          f"{sum(m['camp'] == 'open_cn' for m in models)} open_cn, "
          f"{sum(m['camp'] == 'open_us' for m in models)} open_us, "
          f"{sum(m['camp'] == 'open_other' for m in models)} open_other)")
    print(f"fit (n={n}, r2={r2:.3f}): eci = {beta[0]:.2f} (+-{se[0]:.2f}) + {beta[1]:.3f} (+-{se[1]:.3f})*log10(FLOP)"
          f" + {beta[2]:.3f} (+-{se[2]:.3f})*years_since_2024")
    if fit_fr:
        bf, sf, r2f = fit_fr
        print(f"frontier-only fit (n={nfr}, r2={r2f:.3f}): a={bf[0]:.2f} b={bf[1]:.3f} c={bf[2]:.3f}")
    print("month    closed   open     open_cn  open_us")
    for mo in ((2023, 1), (2024, 1), (2025, 1), (2026, 3)):
        i = months_all.index(mo)
        vals = [series[k][i] for k in ("closed", "open", "open_cn", "open_us")]
        print(month_str(mo), "  ".join(f"{v:7.2f}" if v is not None else "   (na)" for v in vals))
    i = months_all.index(LAST_MONTH)
    cn, us = series["open_cn"][i], series["open_us"][i]
    print(f"best CN open leads best US open at {month_str(LAST_MONTH)}: {cn > us} ({cn:.2f} vs {us:.2f})")
    for msg in check_labs(models):
        print("labs.csv check:", msg)


if __name__ == "__main__":
    main()
