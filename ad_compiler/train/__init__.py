"""Training a compiled loss on data with the lecture's methods: the glue behind `adc train`.

`data` loads and prepares data sets, `model` is the compiled loss with its parameters,
`optim` holds the lecture's methods, `loop` plans and runs a training, `plots` draws its
loss curves.
"""

from . import optim
from .data import DATASETS, Data, Split, load_data, prepare
from .loop import METHODS, Plan, TrainResult, parse_settings, run, setup, train
from .model import Model, load_model, param_shapes, parse_shape
from .plots import plot_history

__all__ = [
    "DATASETS",
    "METHODS",
    "Data",
    "Model",
    "Plan",
    "Split",
    "TrainResult",
    "load_data",
    "load_model",
    "optim",
    "param_shapes",
    "parse_settings",
    "parse_shape",
    "plot_history",
    "prepare",
    "run",
    "setup",
    "train",
]
