"""skip_autograph_of_graph_safe_code: tf_keras' and ctr_models' code is left unconverted, user
code still is."""
import tensorflow as tf
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion

from ctr_models.tracing import skip_autograph_of_graph_safe_code, skip_keras_autograph


def test_tf_keras_is_not_converted_and_the_rule_is_added_once():
    import tf_keras.src.engine.training as keras_training
    assert skip_keras_autograph() and skip_keras_autograph()
    rules = [r for r in config.CONVERSION_RULES
             if isinstance(r, config.DoNotConvert) and r.matches("tf_keras")]
    assert len(rules) == 1
    assert conversion.is_allowlisted(keras_training.Model.train_step)


def test_ctr_models_layers_are_not_converted_and_the_former_name_still_works():
    from ctr_models.layers.interaction import FM
    assert skip_keras_autograph is skip_autograph_of_graph_safe_code
    assert skip_autograph_of_graph_safe_code()
    rules = [r for r in config.CONVERSION_RULES
             if isinstance(r, config.DoNotConvert) and r.matches("ctr_models")]
    assert len(rules) == 1
    assert conversion.is_allowlisted(FM.call)


def test_user_code_is_still_converted():
    skip_autograph_of_graph_safe_code()

    def count_down(n):
        total = tf.constant(0)
        while n > 0:  # a tensor condition: only works when autograph converts this function
            total += n
            n -= 1
        return total

    assert not conversion.is_allowlisted(count_down)
    assert int(tf.function(count_down)(tf.constant(4))) == 10
