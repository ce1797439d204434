"""field_interaction layers."""
import tensorflow as tf
import tf_keras as keras

__all__ = []
