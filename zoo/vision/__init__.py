"""Vision family: LeNet-5 to ResNet, MobileNetV2, EfficientNet-Lite0 and ViT (registering on import)."""
from zoo.vision import alexnet, efficientnet_lite, googlenet, lenet, mobilenet_v2, resnet, vgg, vit  # noqa: F401
from zoo.vision.common import extract_features

__all__ = ["extract_features"]
