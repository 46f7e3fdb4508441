"""The EMA workbench connector: a sweep spec as an ``ema_workbench.Model``.

The `EMA workbench <https://emaworkbench.readthedocs.io>`_ (exploratory modelling and
analysis) samples uncertainties and levers, runs a model over them and analyses the results
(PRIM and CART scenario discovery, feature scoring, Sobol indices, many-objective search).
:func:`ema_model` turns an opengap sweep spec (:mod:`sim.studies.sweeps.spec`) into one:

* every parameter of the spec is an **uncertainty** (a ``range`` is a ``RealParameter``, or an
  ``IntegerParameter`` over an integer field; ``choices`` is a ``CategoricalParameter``),
  except those named in ``levers``, which become **levers** (policy choices) of the same kind;
* every outcome of the spec (``NAME@WHEN`` of the measure registry) is a ``ScalarOutcome``;
* the model's function simulates ``replicates`` runs (default: the spec's) of the scenario
  with those values, runs ``0 .. replicates - 1`` under the spec's seed (common random
  numbers, as in ``opengap sweep``), and returns each outcome's mean over them.

EMA names must be Python identifiers, so a dotted path ``capability.distill_efficiency`` is
named ``capability__distill_efficiency`` and an outcome ``gap_points@2027-12``
``gap_points_at_2027_12`` (:func:`ema_name`; :attr:`EmaConnector.names` maps them back).

Example (Python >= 3.12, ``pip install opengap[ema]``)::

    from ema_workbench import SequentialEvaluator
    from ema_workbench.analysis import prim
    from sim.studies.ema import ema_model
    from sim.studies.sweeps.spec import load_spec

    model = ema_model(load_spec("experiments/sweeps/baseline-lhs.toml"), replicates=2)
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=100)
    box = prim.Prim(experiments[model.uncertainties.keys()],
                    outcomes["gap_points_at_2027_12"] > 8, threshold=0.6).find_box()
    box.inspect()        # limits with quasi-p values

The workbench is an optional dependency: ``ema_workbench`` 3 needs Python >= 3.12, and
:func:`ema_model` raises :class:`EmaUnavailable` (an input error) where it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.engine import simulate
from sim.errors import InputError
from sim.inputs.seeds import seeds_for
from sim.measures.outcomes import evaluate
from sim.studies.sweeps.spec import Parameter, SweepSpec, scenario_for


class EmaUnavailable(InputError):
    """The EMA workbench is not installed (it needs Python >= 3.12)."""


def ema_name(text: str) -> str:
    """An EMA-workbench name (a Python identifier) for a dotted path or an outcome label:
    ``.`` becomes ``__``, ``@`` ``_at_``, any other non-identifier character ``_``."""
    name = text.replace(".", "__").replace("@", "_at_")
    name = re.sub(r"\W", "_", name)
    return name if name.isidentifier() else f"p_{name}"


@dataclass(frozen=True)
class EmaConnector:
    """The function an EMA ``Model`` calls: keyword arguments named by :func:`ema_name`
    (uncertainties and levers), returns ``{outcome name: mean over replicates}``.
    A plain dataclass, so it pickles to the workbench's worker processes."""

    spec: SweepSpec
    replicates: int

    @property
    def names(self) -> dict[str, str]:
        """EMA name -> opengap name (parameter paths and outcome labels)."""
        return {ema_name(x): x for x in (*self.spec.paths, *(o.label for o in self.spec.outcomes))}

    def __call__(self, **values: Any) -> dict[str, float]:
        names = self.names
        paths = tuple(names[k] for k in values)
        scenario = scenario_for(self.spec.base, self.spec.bases, paths,
                                tuple(_plain(v) for v in values.values()))
        results = simulate(scenario, n_runs=self.replicates, seed=self.spec.seed,
                           seeds=seeds_for(scenario))
        out = evaluate(results, self.spec.outcomes)
        with np.errstate(all="ignore"):
            return {ema_name(label): float(np.nanmean(v)) if np.isfinite(v).any()
                    else float("nan") for label, v in out.items()}


def _plain(value: Any) -> Any:
    """numpy scalars from the workbench's samplers as Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def _ema_parameter(p: Parameter, ema: Any) -> Any:
    name = ema_name(p.path)
    if p.choices is not None:
        return ema.CategoricalParameter(name, list(p.choices))
    assert p.low is not None and p.high is not None
    if p.integer:
        return ema.IntegerParameter(name, int(p.low), int(p.high))
    return ema.RealParameter(name, p.low, p.high)


def ema_model(spec: SweepSpec, *, replicates: int | None = None,
              levers: Sequence[str] = (), name: str | None = None) -> Any:
    """``spec`` as an ``ema_workbench.Model`` (see the module docstring): uncertainties and
    ``levers`` (parameter paths of the spec) from its parameters, outcomes from its outcomes,
    ``replicates`` runs per experiment (default the spec's). A log-scale range is sampled
    uniformly by the workbench (give it a ``RealParameter.from_dist`` yourself if needed)."""
    try:
        import ema_workbench as ema
    except ImportError:
        raise EmaUnavailable("the EMA workbench is not installed: pip install 'opengap[ema]' "
                             "(ema_workbench 3 needs Python >= 3.12)") from None
    unknown = sorted(set(levers) - set(spec.paths))
    if unknown:
        raise EmaUnavailable(f"levers {', '.join(unknown)} are not parameters of the spec; "
                             f"parameters: {', '.join(spec.paths)}")
    reps = spec.replicates if replicates is None else int(replicates)
    if reps < 1:
        raise EmaUnavailable(f"replicates must be at least 1 (got {reps})")
    model = ema.Model(name or ema_name(spec.name.replace("-", "_")),
                      function=EmaConnector(spec, reps))
    model.uncertainties = [_ema_parameter(p, ema) for p in spec.parameters
                           if p.path not in levers]
    model.levers = [_ema_parameter(p, ema) for p in spec.parameters if p.path in levers]
    model.outcomes = [ema.ScalarOutcome(ema_name(o.label)) for o in spec.outcomes]
    return model


def prim_box_rows(box: Any, i: int | None = None) -> list[dict[str, Any]]:
    """The restricted dimensions of a workbench ``PrimBox`` at peeling step ``i`` (default:
    the selected one), one dict each: ``parameter`` (EMA name), ``low`` / ``high`` for a
    numeric dim or ``values`` (sorted) for a categorical one, and the quasi-p values of its
    lower and upper restriction (``qp_lower``, ``qp_upper``; NaN where that side is not
    restricted). It reads ``box.box_lims`` and ``box.p_values`` directly: ema_workbench
    3.0's ``inspect`` fails on categorical dims under pandas 3."""
    i = box._cur_box if i is None else i
    lims, first, qp = box.box_lims[i], box.box_lims[0], box.p_values[i]
    rows = []
    for dim in lims.columns:
        if lims[dim].tolist() == first[dim].tolist():
            continue
        lo, hi = lims[dim].iloc[0], lims[dim].iloc[1]
        row: dict[str, Any] = {"parameter": dim}
        if isinstance(lo, set):
            row["values"] = sorted(lo)
        else:
            row["low"], row["high"] = float(lo), float(hi)
        q = qp.get(dim, [-1, -1])
        row["qp_lower"], row["qp_upper"] = (float("nan") if v == -1 else float(v) for v in q)
        rows.append(row)
    return rows


__all__ = ["EmaConnector", "EmaUnavailable", "ema_model", "ema_name", "prim_box_rows"]
