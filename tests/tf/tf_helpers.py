"""Small Keras models and inputs shared by the TensorFlow backend tests."""

import keras
import numpy as np


def conv_model(seed=0, channels=3, classes=5):
    """A small image classifier: NHWC float32 [N, 8, 8, 3] -> [N, 5]."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, channels), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes)(x)
    return keras.Model(inputs, outputs)


def images(batch, seed=None):
    rng = np.random.default_rng(batch if seed is None else seed)
    return rng.standard_normal((batch, 8, 8, 3)).astype(np.float32)


def eager(model, inputs):
    return [np.asarray(model(inputs[0], training=False))]
