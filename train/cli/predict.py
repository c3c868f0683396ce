"""`zoo-predict MODEL --weights SOURCE IMAGE...`: top-K classes of image files under pretrained weights.

    zoo-predict efficientnet_lite0 --weights imagenet cat.jpg
    zoo-predict resnet18 --weights resnet18.pth a.png b.png --top 3 --json
    zoo-predict resnet18 --weights flowers5.pth --num-classes 5 rose.jpg   # a checkpoint with its own head
    zoo-predict efficientnet_lite0 cat.jpg --saliency out/   # + saliency maps and first-layer filters as PNG
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from train.cli.errors import run_command
from train.data.images import ImageReadError, read_image, small_image_warning  # noqa: F401 (ImageReadError: API)

CHUNK = 16  # images per forward pass; the last chunk is padded so one compiled shape serves all


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-predict", description="Classify images with a zoo model and "
                                "pretrained weights; prints the top-K classes and their probabilities.")
    p.add_argument("model", metavar="MODEL", help="registered model name, e.g. efficientnet_lite0 or resnet18")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything PIL reads)")
    p.add_argument("--weights", metavar="SOURCE", help="a weights file (.pth/.pt/.safetensors/.npz), a name from the model card's "
                                     "pretrained weights (e.g. imagenet), or pip:DIST/PATH; default: the card's")
    p.add_argument("--num-classes", type=int, metavar="N", help="classes of the checkpoint's classifier head, "
                   "when it differs from the model card's default (e.g. a fine-tuned checkpoint)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="classes to show per image (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--saliency", metavar="DIR", help="also write DIR/<image>_saliency.png (gradient of the top "
                                                     "class score w.r.t. the pixels), DIR/filters.png and, for a ViT, "
                                                     "DIR/<image>_attention.png (attention rollout)")
    return p


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


def input_size(card) -> tuple[int, int]:
    """(height, width) of the pixels the model sees: the card's crop (or resize) when it has preprocessing, else
    the size `prepare` resizes to."""
    if card.preprocessing:
        side = card.preprocessing.get("crop") or card.preprocessing.get("resize")
        if side:
            return side, side
    return tuple(card.example_input_shape[:2])


def class_labels(num_classes: int) -> list[str]:
    if num_classes == 1000:
        from zoo.vision.imagenet import imagenet_class_names

        return [f"{name} ({i})" for i, name in enumerate(imagenet_class_names())]
    return [f"class {i}" for i in range(num_classes)]


def load_for_inference(model_name: str, weights: str | None, num_classes: int | None):
    """(model, variables) with every variable, the classifier head included, from the weights file."""
    import zoo
    from zoo.weights import WeightsMismatchError, load_pretrained

    try:
        # strict: a head that does not fit must not be replaced by a random one, as transfer learning would.
        return load_pretrained(model_name, weights, num_classes=num_classes, strict=True)
    except WeightsMismatchError as err:
        default = getattr(zoo.create(model_name), "num_classes", None)
        if default is None:
            raise
        now = f"--num-classes {num_classes}" if num_classes is not None else f"the card's default {default}"
        raise WeightsMismatchError(
            f"{err}\nIf only the classifier head differs, the checkpoint was trained for another number of classes "
            f"than {now}: pass --num-classes N, N being the head's output count in the shape mismatches above."
        ) from None


def predict(model_name: str, weights: str | None, image_paths: list[str], top: int,
            saliency_dir: str | None = None, num_classes: int | None = None) -> list[dict]:
    """[{'image', 'predictions': [{'index', 'label', 'probability'}, ...top]}] in the order given.

    With `saliency_dir`, each result also names the PNGs written there (key 'saliency').
    `num_classes` sets the model's field for checkpoints whose head differs from the card's default.
    """
    import jax

    import zoo

    card = zoo.model_card(model_name)
    shape = tuple(card.example_input_shape)
    channels = 3 if card.preprocessing else (shape[2] if len(shape) == 3 else 1)
    pixels = [read_image(Path(p), channels) for p in image_paths]  # fail before loading weights
    for path, img in zip(image_paths, pixels):
        warning = small_image_warning(path, img.shape[:2], input_size(card))
        if warning:
            print(f"zoo-predict: warning: {warning}", file=sys.stderr)
    images = [prepare(img, card) for img in pixels]
    model, variables = load_for_inference(model_name, weights, num_classes)
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
        if hasattr(model, "patch_size"):  # a Vision Transformer: where its attention goes, too
            from zoo.vision.attention_maps import save_vit_attention

            path = out / f"{Path(result['image']).stem}_attention.png"
            result["attention"] = str(save_vit_attention(model, variables, image[None], path,
                                                         titles=[f"{best['label']} {best['probability']:.2f}"]))
    save_filter_grid(variables, out / "filters.png")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.top < 1:
        build_parser().error("--top must be at least 1")
    if args.num_classes is not None and args.num_classes < 1:
        build_parser().error("--num-classes must be at least 1")
    return run_command("zoo-predict", lambda: _print(predict(args.model, args.weights, args.images, args.top,
                                                             args.saliency, args.num_classes), args))


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
        if "attention" in result:
            print(f"  attention map: {result['attention']}")
    if args.saliency:
        print(f"first-layer filters: {Path(args.saliency) / 'filters.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
