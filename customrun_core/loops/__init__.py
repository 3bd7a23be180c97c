"""Loops: the training, validation and test workflows a run is made of."""

from customrun_core.loops.base import BaseLoop
from customrun_core.loops.epoch import EpochBasedTrainLoop
from customrun_core.loops.evaluation import TestLoop, ValLoop
from customrun_core.loops.iteration import IterBasedTrainLoop
from customrun_core.loops.training import TrainLoop

__all__ = ["BaseLoop", "EpochBasedTrainLoop", "IterBasedTrainLoop", "TestLoop", "TrainLoop", "ValLoop"]
