"""`zoo-predict MODEL --weights SOURCE IMAGE...`: top-K classes of image files under pretrained weights.

    zoo-predict efficientnet_lite0 --weights imagenet cat.jpg
    zoo-predict resnet18 --weights resnet18.pth a.png b.png --top 3 --json
    zoo-predict efficientnet_lite0 cat.jpg --saliency out/   # + saliency maps and first-layer filters as PNG
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from train.cli.errors import run_command
from zoo.errors import ZooError

CHUNK = 16  # images per forward pass; the last chunk is padded so one compiled shape serves all


class ImageReadError(ZooError, OSError):
    """An image file that is missing or that PIL cannot decode."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-predict", description="Classify images with a zoo model and "
                                "pretrained weights; prints the top-K classes and their probabilities.")
    p.add_argument("model", metavar="MODEL", help="registered model name, e.g. efficientnet_lite0 or resnet18")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything PIL reads)")
    p.add_argument("--weights", metavar="SOURCE", help="a weights file (.pth/.pt/.safetensors/.npz), a name from the model card's "
                                     "pretrained weights (e.g. imagenet), or pip:DIST/PATH; default: the card's")
    p.add_argument("--top", type=int, default=5, metavar="K", help="classes to show per image (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--saliency", metavar="DIR", help="also write DIR/<image>_saliency.png (gradient of the top "
                                                     "class score w.r.t. the pixels) and DIR/filters.png")
    return p


def read_image(path: Path, channels: int) -> np.ndarray:
    """uint8 [H, W, 3] (RGB; grey, palette and RGBA images converted) or [H, W] for one-channel models."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ImageReadError(f"image {path} does not exist")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from None


def prepare(img: np.ndarray, card) -> np.ndarray:
    """One image as the model eats it, [H, W, C] float32: the card's preprocessing, else a plain resize."""
    if card.preprocessing:
        from zoo.vision.preprocess import preprocess_image

        return preprocess_image(img, card.preprocessing)
    from PIL import Image

    shape = tuple(card.example_input_shape)  # small nets: the size they were trained at, pixels in [0, 1]
    height, width = shape[:2]
    resized = np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BILINEAR), np.float32)
    return (resized / 255.0).reshape(shape)


def class_labels(num_classes: int) -> list[str]:
    if num_classes == 1000:
        from zoo.vision.imagenet import imagenet_class_names

        return [f"{name} ({i})" for i, name in enumerate(imagenet_class_names())]
    return [f"class {i}" for i in range(num_classes)]


def predict(model_name: str, weights: str | None, image_paths: list[str], top: int,
            saliency_dir: str | None = None) -> list[dict]:
    """[{'image', 'predictions': [{'index', 'label', 'probability'}, ...top]}] in the order given.

    With `saliency_dir`, each result also names the PNGs written there (key 'saliency').
    """
    import jax

    import zoo
    from zoo.weights import load_pretrained

    card = zoo.model_card(model_name)
    shape = tuple(card.example_input_shape)
    channels = 3 if card.preprocessing else (shape[2] if len(shape) == 3 else 1)
    images = [prepare(read_image(Path(p), channels), card) for p in image_paths]  # fail before loading weights
    model, variables = load_pretrained(model_name, weights)
    forward = jax.jit(lambda v, x: jax.nn.softmax(model.apply(v, x, train=False), axis=-1))
    chunk = min(CHUNK, len(images))
    probs = []
    for start in range(0, len(images), chunk):
        batch = np.stack(images[start:start + chunk])
        padded = np.concatenate([batch, np.zeros((chunk - len(batch), *batch.shape[1:]), batch.dtype)])
        probs.append(np.asarray(forward(variables, padded))[: len(batch)])
    probs = np.concatenate(probs)  # [N, num_classes]
    labels = class_labels(probs.shape[-1])
    results = []
    for path, p in zip(image_paths, probs):
        best = np.argsort(-p, kind="stable")[:top]
        results.append({"image": str(path), "predictions": [
            {"index": int(i), "label": labels[i], "probability": float(p[i])} for i in best]})
    if saliency_dir:
        _write_saliency(model, variables, images, results, Path(saliency_dir))
    return results


def _write_saliency(model, variables, images, results, out: Path) -> None:
    from zoo.vision.interpret import save_filter_grid, save_saliency, saliency_maps

    for image, result in zip(images, results):
        best = result["predictions"][0]
        maps, _ = saliency_maps(model, variables, image[None], [best["index"]])
        path = out / f"{Path(result['image']).stem}_saliency.png"
        save_saliency(image[None], maps, path, titles=[f"{best['label']} {best['probability']:.2f}"])
        result["saliency"] = str(path)
    save_filter_grid(variables, out / "filters.png")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.top < 1:
        build_parser().error("--top must be at least 1")
    return run_command("zoo-predict", lambda: _print(predict(args.model, args.weights, args.images, args.top,
                                                             args.saliency), args))


def _print(results: list[dict], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        print(result["image"])
        for pred in result["predictions"]:
            print(f"  {pred['probability']:.4f}  {pred['label']}")
        if "saliency" in result:
            print(f"  saliency map: {result['saliency']}")
    if args.saliency:
        print(f"first-layer filters: {Path(args.saliency) / 'filters.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
