"""Image datasets and the few-shot tasks drawn from them (docs/method.md#vision).

A task is an N-way classification task: ``n_way`` classes drawn at random, ``k_shot`` images
of each, relabelled 0..N-1 in the order the classes were drawn, the images shuffled within
the task (so that the Fisher's mini-batches mix classes). Task i is drawn with the seed
(seed, i) and depends only on the tasks before it, so adding tasks keeps the earlier ones.
Without ``reuse_documents`` an image belongs to at most one task (each class's images are
shuffled once and consumed in order); with it, every task draws its images afresh and a
task that repeats an earlier one image for image is drawn again. Either way no two tasks
are the same.

Sources: a Hugging Face dataset with an image and a label field (``hub_images``, a hub id
or a local dataset directory, read by ``datasets.load_dataset``), a folder with one
subfolder of images per class (``image_folder``, torchvision's ImageFolder layout), or
scikit-learn's 8x8 handwritten digits (``digits``, offline).

Preparing a dataset stores the images of its tasks (PNG, in task order); sampling brings
them to the probe's geometry with the probe's own image processor (resize, centre crop)
and stores them as uint8 (4x smaller than the normalised floats; 224x224 tasks are large).
The embedding job applies the processor's rescale and normalisation
(:func:`normalise`); the two steps together equal the processor applied once (tested).
"""

from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class ImageSource:
    """The labels of every image of a dataset (read up front) and its images (read on demand)."""

    def __init__(self, ids, labels, load):
        self.ids = [str(i) for i in ids]
        self.labels = np.asarray([str(label) for label in labels])
        self._load = load

    def image(self, row: int):
        """The image of a row as a PIL RGB image."""
        return self._load(row).convert("RGB")


def open_source(name: str, spec: dict) -> ImageSource:
    if spec["source"] == "digits":
        from PIL import Image
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 grey levels
        return ImageSource(range(len(pixels)), digits.target, lambda i: Image.fromarray(pixels[i], mode="L"))
    if spec["source"] == "image_folder":
        return _folder(name, Path(spec["root"]))
    return _hub(name, spec)


def _folder(name: str, root: Path) -> ImageSource:
    from PIL import Image

    if not root.is_dir():
        raise DataError(f"dataset '{name}': image folder '{root}' does not exist")
    files, labels = [], []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(cls.rglob("*")):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(f)
                labels.append(cls.name)
    if not files:
        raise DataError(f"dataset '{name}': no images in class subfolders of '{root}' ({', '.join(IMAGE_EXTENSIONS)})")
    return ImageSource([str(f.relative_to(root)) for f in files], labels, lambda i: Image.open(files[i]))


def _hub(name: str, spec: dict) -> ImageSource:
    import datasets

    ds = datasets.load_dataset(spec["path"], name=spec.get("name"), split=spec["split"], revision=spec.get("revision"))
    for key in ("image_field", "label_field"):
        if spec[key] not in ds.column_names:
            raise DataError(
                f"dataset '{name}': {key.replace('_', ' ')} '{spec[key]}' not found; available fields: "
                f"{', '.join(ds.column_names)}; set datasets.{name}.{key}"
            )
    images = ds.select_columns([spec["image_field"]])
    return ImageSource(range(len(ds)), ds[spec["label_field"]], lambda i: images[int(i)][spec["image_field"]])


def task_rows(labels: np.ndarray, n_tasks: int, n_way: int, k_shot: int, seed: int, reuse: bool, name: str = ""):
    """For every task: (rows of its images, their labels 0..n_way-1, its classes), shuffled."""
    classes = sorted(set(labels))
    by_class = {c: np.flatnonzero(labels == c) for c in classes}
    if not reuse:
        shuffle = np.random.default_rng([seed])
        remaining = {c: shuffle.permutation(by_class[c]) for c in classes}
    seen, tasks = set(), []
    for i in range(n_tasks):
        for attempt in itertools.count():
            rng = np.random.default_rng([seed, i, attempt])
            pools = by_class if reuse else remaining
            eligible = [c for c in classes if len(pools[c]) >= k_shot]
            if len(eligible) < n_way:
                raise DataError(
                    f"dataset '{name}': task {i} needs {n_way} classes with {k_shot} unused images each, "
                    f"{len(eligible)} are left; lower n_batches, n_way or k_shot, or set sampling.reuse_documents: true"
                )
            chosen = [eligible[j] for j in rng.choice(len(eligible), n_way, replace=False)]
            if reuse:
                rows = [rng.choice(by_class[c], k_shot, replace=False) for c in chosen]
            else:
                rows = [remaining[c][:k_shot] for c in chosen]
                for c in chosen:
                    remaining[c] = remaining[c][k_shot:]
            key = frozenset(np.concatenate(rows).tolist())
            if key not in seen:
                break
            if attempt >= 100:
                raise DataError(f"dataset '{name}': cannot draw a task {i} distinct from the earlier ones")
        seen.add(key)
        order = rng.permutation(n_way * k_shot)
        tasks.append((np.concatenate(rows)[order], np.repeat(np.arange(n_way), k_shot)[order], chosen))
    return tasks


def pixels_sha(pixels: np.ndarray) -> str:
    sha = hashlib.sha256(str(pixels.shape).encode())
    sha.update(np.ascontiguousarray(pixels).tobytes())
    return sha.hexdigest()[:16]


def png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def prepare_images(name: str, spec: dict) -> pd.DataFrame:
    """The images of every task, in task order: task, position, document_id, class, label,
    image (PNG of the RGB image), sha256 (of its pixels)."""
    s = spec["sampling"]
    source = open_source(name, spec)
    tasks = task_rows(source.labels, s["n_batches"], s["n_way"], s["k_shot"], s["seed"], s["reuse_documents"], name)
    records = []
    for t, (rows, labels, _) in enumerate(tasks):
        for position, (row, label) in enumerate(zip(rows, labels)):
            image = source.image(int(row))
            records.append(
                {
                    "task": t,
                    "position": position,
                    "document_id": source.ids[row],
                    "class": source.labels[row],
                    "label": int(label),
                    "image": png(image),
                    "sha256": pixels_sha(np.asarray(image)),
                }
            )
    return pd.DataFrame.from_records(records)


def geometry(processor, images) -> np.ndarray:
    """The images at the probe's input geometry (the processor's resize and centre crop,
    no rescale or normalisation), uint8 (n, channels, height, width)."""
    out = processor(images, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"]
    out = np.stack(out) if isinstance(out, list) else np.asarray(out)
    if not np.array_equal(out, np.rint(out)) or out.min() < 0 or out.max() > 255:
        raise DataError("the probe's image processor changed pixel values while resizing; cannot store them as uint8")
    return out.astype(np.uint8)


def normalise(processor, pixels: np.ndarray):
    """Float pixel values as the probe expects them, from the uint8 images at its geometry."""
    out = processor(
        list(pixels),
        do_resize=False,
        do_center_crop=False,
        input_data_format="channels_first",
        return_tensors="pt",
    )
    return out["pixel_values"]


def sample(name: str, pool: pd.DataFrame, sampling: dict, processor) -> tuple[dict, pd.DataFrame, list[str]]:
    """Arrays of all tasks (uint8 pixels at the probe's geometry, labels 0..n_way-1), the
    manifest (one row per image of every task) and a hash of every task."""
    from PIL import Image

    n_tasks, size = sampling["n_batches"], sampling["batch_size"]
    pool = pool.sort_values(["task", "position"])
    if len(pool) != n_tasks * size:
        raise DataError(f"dataset '{name}': the prepared tasks hold {len(pool)} images, expected {n_tasks} x {size}")
    pixels = []
    for t in range(n_tasks):
        images = [Image.open(io.BytesIO(b)).convert("RGB") for b in pool["image"].iloc[t * size : (t + 1) * size]]
        pixels.append(geometry(processor, images))
    if len({p.shape for p in pixels}) > 1:
        raise DataError(f"dataset '{name}': the probe's image processor yields images of different sizes")
    pixels = np.stack(pixels)
    labels = pool["label"].to_numpy(dtype=np.int64).reshape(n_tasks, size)
    hashes = [pixels_sha(p) + pixels_sha(y) for p, y in zip(pixels, labels)]
    manifest = pool.rename(columns={"task": "batch"})[["batch", "position", "document_id", "class", "label", "sha256"]]
    return {"pixels": pixels, "labels": labels}, manifest.reset_index(drop=True), hashes
