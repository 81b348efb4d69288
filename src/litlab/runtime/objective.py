"""Which way a metric is better: one rule for the monitor, the sweep summary and the searches.

Light: no torch.
"""

from __future__ import annotations

MODES = ("min", "max")
# The last part of a metric's name (val/loss -> loss) -> the direction in which it improves.
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "error", "nll")
HIGHER_IS_BETTER = ("acc", "accuracy", "auroc", "f1", "precision", "recall", "r2", "ap")


def metric_mode(metric: str) -> str:
    """`min` for a loss or an error, `max` for accuracy, AUROC, F1, R2...; a name it does not know is
    an error that says to set the mode."""
    name = str(metric).rsplit("/", 1)[-1].lower()
    if name in LOWER_IS_BETTER:
        return "min"
    if name in HIGHER_IS_BETTER:
        return "max"
    raise ValueError(
        f"which way is {metric!r} better? litlab knows {', '.join(LOWER_IS_BETTER)} (min) and "
        f"{', '.join(HIGHER_IS_BETTER)} (max); for another metric set its mode, e.g. "
        "optimized_metric_mode=max or monitor.mode=min"
    )


def objective_problem(metric: str | None, mode: str | None, option: str = "optimized_metric") -> str | None:
    """What is wrong with a metric and its mode, or None: the mode is min or max and, for a metric
    whose direction is known, the right one. `option` names the metric's config key: optimized_metric
    (its mode: optimized_metric_mode) or monitor.metric (its mode: monitor.mode)."""
    if not metric:
        return None
    mode_option = "monitor.mode" if option == "monitor.metric" else f"{option}_mode"
    if mode not in MODES:
        return f"{mode_option}={mode!r} is not one of {list(MODES)}; set {mode_option}=min or max"
    try:
        expected = metric_mode(metric)
    except ValueError:
        return None  # a metric of the user's own: their mode stands
    if mode != expected:
        return (
            f"{mode_option}={mode} contradicts {option}={metric}: {metric} is better when "
            f"{'lower' if expected == 'min' else 'higher'}; drop the {mode_option} override (it follows "
            f"the metric) or set {mode_option}={expected}"
        )
    return None


def check_objective(metric: str | None, mode: str | None, option: str = "optimized_metric") -> None:
    """Raise ValueError when `objective_problem` finds something."""
    problem = objective_problem(metric, mode, option)
    if problem:
        raise ValueError(problem)


def check_logged(metric: str | None, logged: list[str], option: str = "optimized_metric") -> None:
    """Before training: raise ValueError when `metric` is one of litlab's own metrics (by its last part:
    acc, r2, loss, ...) that this model does not log, such as a classifier's val/acc asked of a
    regression, which would otherwise fail only once the run is over. A metric of the user's own (a
    callback's `self.log`) is looked up when the run ends."""
    known = metric and str(metric).rsplit("/", 1)[-1].lower() in (*LOWER_IS_BETTER, *HIGHER_IS_BETTER)
    if known and metric not in logged:
        raise ValueError(
            f"{option}={metric} is not a metric this model logs; pick one of {', '.join(logged)}, "
            f"e.g. {option}={next((m for m in logged if m.startswith('val/')), logged[0])}"
        )


def optuna_direction(mode: str) -> str:
    """Optuna's word for a mode: min -> minimize, max -> maximize."""
    if mode not in MODES:
        raise ValueError(f"optimized_metric_mode must be one of {list(MODES)}, got {mode!r}")
    return {"min": "minimize", "max": "maximize"}[mode]
