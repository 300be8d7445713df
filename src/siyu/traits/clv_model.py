"""Customer lifetime value: BG/NBD (how often, and whether still alive) and Gamma-Gamma (how
much per purchase).

This is the only module that touches ``lifetimes`` (0.11.3, unmaintained since 2020): it fits
and predicts on plain arrays and nothing else. lifetimes' own pandas helpers are not used (they
break on pandas 3); summaries are built in Ibis (see ``expressions.clv_summary``). Swapping to
another fitter (e.g. PyMC-Marketing) means rewriting this file only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from siyu.refusals import Refusal

Array = npt.NDArray[np.float64]
MIN_REPEAT_BUYERS = 10


class DegenerateFit(Refusal):
    """The data cannot support a fit (nobody, or nobody who bought twice); the message says why."""


@dataclass
class ClvModel:
    """Fitted parameters and the predictions built on them. Money here is in fen, as fed to
    the fit: Gamma-Gamma's ``v`` is in fen (``clv.reported_params`` gives it in yuan)."""

    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float] | None
    log_likelihood: float
    customers: int
    notes: list[str] = field(default_factory=list)
    _bg: Any = None
    _gg: Any = None
    _spend_scale: float = 1.0  # Gamma-Gamma is fitted on spend / scale (see ``fit``)

    def p_alive(self, frequency: Array, recency: Array, T: Array) -> Array:
        return np.asarray(self._bg.conditional_probability_alive(frequency, recency, T), float)

    def expected_purchases(self, t: float, frequency: Array, recency: Array, T: Array) -> Array:
        """Expected purchases in the next ``t`` time units."""
        return np.asarray(
            self._bg.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T),
            float,
        )

    def expected_spend(self, frequency: Array, monetary: Array) -> Array | None:
        """Expected spend per future purchase (fen); None without a Gamma-Gamma fit."""
        if self._gg is None:
            return None
        scaled = self._gg.conditional_expected_average_profit(
            frequency, monetary / self._spend_scale
        )
        return np.asarray(scaled, float) * self._spend_scale

    def clv(
        self,
        frequency: Array,
        recency: Array,
        T: Array,
        monetary: Array,
        *,
        unit_days: float,
        months: int = 12,
        margin: float = 1.0,
        annual_discount: float = 0.0,
    ) -> Array | None:
        """Discounted margin of the next ``months`` months: each month's expected purchases
        times the expected spend per purchase, times the margin, discounted monthly."""
        spend = self.expected_spend(frequency, monetary)
        if spend is None:
            return None
        monthly = (1 + annual_discount) ** (1 / 12) - 1
        per_month = 30.4375 / unit_days
        total = np.zeros_like(frequency, dtype=float)
        before = np.zeros_like(frequency, dtype=float)
        for m in range(1, months + 1):
            upto = self.expected_purchases(m * per_month, frequency, recency, T)
            total += (upto - before) * spend * margin / (1 + monthly) ** m
            before = upto
        return total


def fit(frequency: Array, recency: Array, T: Array, monetary: Array) -> ClvModel:
    """Fit BG/NBD on everyone and Gamma-Gamma on repeat buyers with a positive spend."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    n = len(frequency)
    if n == 0:
        raise DegenerateFit("no buyers in the calibration period: nothing to fit")
    repeaters = int((frequency > 0).sum())
    if repeaters < MIN_REPEAT_BUYERS:
        raise DegenerateFit(
            "only {n} customers bought on more than one day; BG/NBD needs at least "
            "{least} to estimate how often people come back",
            n=repeaters,
            least=MIN_REPEAT_BUYERS,
        )
    bg = BetaGeoFitter(penalizer_coef=0.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bg.fit(frequency, recency, T)
    except Exception as exc:  # lifetimes' ConvergenceError, or a numerical failure
        raise DegenerateFit("the BG/NBD fit did not converge: {why}", why=str(exc).strip()) from exc
    params = {k: float(v) for k, v in bg.params_.items()}
    if not all(math.isfinite(v) and v > 0 for v in params.values()):
        raise DegenerateFit("the BG/NBD fit did not converge ({params})", params=params)
    model = ClvModel(
        bgnbd=params,
        gamma_gamma=None,
        log_likelihood=-float(bg._negative_log_likelihood_) * n,
        customers=n,
        _bg=bg,
    )
    paying = (frequency > 0) & (monetary > 0)
    if paying.sum() < MIN_REPEAT_BUYERS:
        model.notes.append("too few repeat buyers with a positive spend for Gamma-Gamma")
        return model
    # Spend in fen runs to 10^5; the optimiser loses precision there, so Gamma-Gamma is fitted
    # on spend divided by its mean. p and q do not depend on the unit; v scales with it.
    scale = float(monetary[paying].mean())
    gg = GammaGammaFitter(penalizer_coef=0.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gg.fit(frequency[paying], monetary[paying] / scale)
        gparams = {k: float(v) for k, v in gg.params_.items()}
        gparams["v"] *= scale
        if all(math.isfinite(v) and v > 0 for v in gparams.values()):
            model.gamma_gamma, model._gg, model._spend_scale = gparams, gg, scale
        else:
            model.notes.append(f"the Gamma-Gamma fit did not converge ({gparams})")
    except Exception as exc:  # lifetimes raises ConvergenceError and plain errors alike
        model.notes.append(f"the Gamma-Gamma fit failed: {exc}")
    return model
