"""Predictions from a finished classification run: image files -> predicted class and class probabilities.

Each image is read as the run read its training images (size and channels of the saved model's input, the
config's mean and std for image folders and CSV-listed images), and the class names come from results.json.

    predictor = distill.load("runs/hinton-digits-...", "student_kd", fold=1)
    predictor.predict(Path("scans/"))      # DataFrame: file, predicted, p_<class> ...
    predictor.predict(images)              # (batch, C, H, W) tensor, preprocessed -> (batch, classes) probabilities
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from distill.config import read_recipe, validate_config
from distill.core.train import predict
from distill.data.images import is_image_file, read_images, standardise
from distill.errors import DistillError
from distill.io.checkpoints import FINAL, load_model, model_input_shape, saved_folds
from distill.protocols.classification.config import ClassificationConfig
from distill.tasks.classification import class_log_probs

STANDARDISED_SOURCES = ("folders", "csv")  # the sources whose loaders apply data.mean / data.std


class ClassificationPredictor:
    """A saved model of a classification run, served: `predict(files)` -> a table of classes and probabilities."""

    def __init__(self, run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None,
                 intervals: bool = False, trust_imports: bool = False) -> None:
        if intervals:
            raise DistillError("--intervals serves forecasting runs; a classification run gives class probabilities")
        self.run_dir, self.name = Path(run_dir), name
        self.config = validate_config(read_recipe(str(self.run_dir / "config.yaml")), ClassificationConfig)
        results = json.loads((self.run_dir / "results.json").read_text())
        self.classes: list[str] = results["classes"]
        self.fold = saved_folds(self.run_dir, name, fold)[0]
        self.model = load_model(self.run_dir, name, self.fold, trust_imports)
        self.input_shape = model_input_shape(self.run_dir, name)  # (C, H, W)

    def describe(self) -> str:
        which = "final model" if self.fold == FINAL else f"fold {self.fold} model"
        return f"{self.name}, {which}: {len(self.classes)} classes ({', '.join(self.classes)})"

    def predict(self, data: str | Path | list[Path] | torch.Tensor) -> pd.DataFrame | torch.Tensor:
        """Image files (a file, a folder searched recursively, or a list) -> DataFrame of `file`, `predicted`
        and `p_<class>`; or a preprocessed (batch, C, H, W) tensor -> (batch, classes) probabilities."""
        if isinstance(data, torch.Tensor):
            if tuple(data.shape[1:]) != self.input_shape:
                raise DistillError(f"images must be (batch, {', '.join(map(str, self.input_shape))}), "
                                   f"got {tuple(data.shape)}")
            return class_log_probs(predict(self.model, data.float()), len(self.classes)).exp()
        files = image_files(data)
        channels, size = self.input_shape[0], self.input_shape[-1]
        images = read_images(files, size, grayscale=channels == 1)  # (N, C, size, size) in [0, 1]
        if self.config.data.source in STANDARDISED_SOURCES:
            images = standardise(images, self.config.data.mean, self.config.data.std)
        probabilities = self.predict(torch.from_numpy(images)).numpy()
        table = pd.DataFrame({"file": [str(path) for path in files],
                              "predicted": [self.classes[i] for i in probabilities.argmax(axis=1)]})
        for index, name in enumerate(self.classes):
            table[f"p_{name}"] = probabilities[:, index]
        return table


def cv_test_folds(run_dir: str | Path) -> tuple[str, list]:
    """The run's cross-validation test folds rebuilt from its config: the metric's name and, per fold, the test
    images and a function scoring a model's outputs on them (accuracy)."""
    from distill.data.labelled import load_images
    from distill.protocols.classification.run import make_image_folds  # the run's own folds

    config = validate_config(read_recipe(str(Path(run_dir) / "config.yaml")), ClassificationConfig)
    images = load_images(config.data, config.seed)
    classes = len(images.classes)
    tests = []
    for fold in make_image_folds(config, images):
        truth = fold.y_test.numpy()
        score = (lambda outputs, y=truth:
                 float((class_log_probs(torch.as_tensor(outputs), classes).argmax(1).numpy() == y).mean()))
        tests.append((fold.x_test, score))
    return "accuracy (higher is better)", tests


def image_files(data: str | Path | list) -> list[Path]:
    """The image files named: one file, every image under a folder (sorted), or a list of files."""
    if isinstance(data, (list, tuple)):
        return [Path(path) for path in data]
    path = Path(data)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DistillError(f"no image file or folder at {path}")
    files = sorted(p for p in path.rglob("*") if is_image_file(p))
    if not files:
        raise DistillError(f"no image files under {path}")
    return files
