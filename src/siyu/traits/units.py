"""The units of the CLV model's parameters, as Siyu reports and stores them.

The model is fitted on spend in fen, so Gamma-Gamma's money-scale ``v`` comes out in fen (1544
on CDNOW, where Fader, Hardie & Lee report 15.44 in dollars). Everything Siyu shows — the
``siyu traits clv`` JSON and text, a recompute's stored parameters, the console — gives it in
yuan and names the unit in a ``units`` map.
"""

from __future__ import annotations

from typing import Any

MONEY_UNIT = "yuan"
FEN_PER_YUAN = 100


def reported_params(
    bgnbd: dict[str, float], gamma_gamma_fen: dict[str, float] | None, unit: str
) -> dict[str, Any]:
    """The fitted parameters as Siyu reports and stores them: Gamma-Gamma's money-scale ``v``
    in yuan (the model's own is in fen), and a ``units`` map naming the unit of every parameter
    that has one: BG/NBD's ``alpha`` is in the model's time unit (day or week), ``v`` in yuan;
    r, a, b, p and q have none."""
    gamma_gamma = None
    if gamma_gamma_fen is not None:
        gamma_gamma = {**gamma_gamma_fen, "v": gamma_gamma_fen["v"] / FEN_PER_YUAN}
    return {
        "bgnbd": dict(bgnbd),
        "gamma_gamma": gamma_gamma,
        "unit": unit,
        "units": {"alpha": unit, "v": MONEY_UNIT},
    }


def stored_params(model: dict[str, Any] | None) -> dict[str, Any] | None:
    """A recompute's stored CLV parameters as ``reported_params`` gives them. Runs recorded
    before the parameters named their units kept ``v`` in fen (and no ``units``): those are
    converted here, so every reader sees one meaning."""
    if not model or "bgnbd" not in model or "units" in model:
        return model
    unit = str(model.get("unit") or "day")
    return reported_params(model["bgnbd"], model.get("gamma_gamma"), unit)
