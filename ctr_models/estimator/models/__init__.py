"""The 13 estimator models of DeepCTR 0.9.4, on ctr_models' Keras models."""
from .afm import AFMEstimator
from .autoint import AutoIntEstimator
from .ccpm import CCPMEstimator
from .dcn import DCNEstimator
from .deepfefm import DeepFEFMEstimator
from .deepfm import DeepFMEstimator
from .fibinet import FiBiNETEstimator
from .fnn import FNNEstimator
from .fwfm import FwFMEstimator
from .nfm import NFMEstimator
from .pnn import PNNEstimator
from .wdl import WDLEstimator
from .xdeepfm import xDeepFMEstimator

__all__ = ["AFMEstimator", "AutoIntEstimator", "CCPMEstimator", "DCNEstimator", "DeepFEFMEstimator",
           "DeepFMEstimator", "FiBiNETEstimator", "FNNEstimator", "FwFMEstimator", "NFMEstimator",
           "PNNEstimator", "WDLEstimator", "xDeepFMEstimator"]
