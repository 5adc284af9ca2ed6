"""Turning the estimator's parameters into a skorch run, one path for every fit.

``make_plan`` checks the parameters against the data and returns an
immutable plan; ``run_training`` builds a net from it (or updates a fitted
one on a warm start), resumes a checkpoint, trains, and returns the net
with an ``Outcome`` saying why training stopped. Fresh fits, warm starts,
resumed checkpoints and distributed runs take this same path.
"""

from ._diagnosis import compare_with_pca, diagnose
from ._labels import LabelCalibration, Labels, calibrate_labels
from ._plan import PARAMETERS, TrainingPlan, make_plan
from ._run import STOP_REASONS, Outcome, net_state, restore_net, run_training

__all__ = [
    "PARAMETERS",
    "STOP_REASONS",
    "LabelCalibration",
    "Labels",
    "Outcome",
    "TrainingPlan",
    "calibrate_labels",
    "compare_with_pca",
    "diagnose",
    "make_plan",
    "net_state",
    "restore_net",
    "run_training",
]
