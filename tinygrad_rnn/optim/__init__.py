"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, HessianFree) and learning-rate schedules, with PyTorch's API."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .hessian_free import HessianFree
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "HessianFree", "lr_scheduler"]
