"""The paper's experiment grid: configuration, trials, the results store and the runner."""

from mlml.experiments.config import GridConfig, load_config
from mlml.experiments.runner import run_grid
from mlml.experiments.store import ResultStore
from mlml.experiments.trials import Trial, grid_trials, run_trial

__all__ = ["GridConfig", "ResultStore", "Trial", "grid_trials", "load_config", "run_grid", "run_trial"]
