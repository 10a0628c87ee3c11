"""Training a compiled loss on data with the lecture's methods: the glue behind `adc train`."""

from . import optim
from .loop import (
    DATASETS,
    METHODS,
    Data,
    Model,
    Plan,
    Split,
    TrainResult,
    load_data,
    load_model,
    param_shapes,
    parse_settings,
    parse_shape,
    plot_history,
    prepare,
    run,
    setup,
    train,
)

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
