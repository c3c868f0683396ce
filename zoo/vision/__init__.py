"""Vision family: LeNet-5 to ResNet, MobileNetV2 and EfficientNet-Lite0 (registering on import)."""
from zoo.vision import alexnet, efficientnet_lite, googlenet, lenet, mobilenet_v2, resnet, vgg  # noqa: F401
from zoo.vision.common import extract_features

__all__ = ["extract_features"]
