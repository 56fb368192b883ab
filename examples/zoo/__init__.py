"""ResNet50 builders, one module per framework, each ``resnet50(weights=None, seed=0) -> (model, preprocess)``.

Imported as ``zoo.<framework>`` so that a module named after a framework never shadows it.
"""
