"""Image tasks and their Task2Vec embedding (docs/method.md#vision): the Fisher against a slow
computation from the definition, the classifier fit against a hand-written loop on features
computed another way, the two-step preprocessing against the processor applied once, the
task sampler's guarantees, the three image sources against each other, config validation."""

import copy
import io

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from task2vec_diversity import config as cfg
from task2vec_diversity import images, vision
from task2vec_diversity.errors import ConfigError, DataError
from task2vec_diversity.probe import load_image_processor, load_model
from task2vec_diversity.store import open_group
from task2vec_diversity.task2vec import Settings

from .test_workflow import ROOT, planned_jobs, run_ok, snakemake

ONE_PER_JOB = {"embeddings_per_job": 1}


def digits_rgb(n=None):
    from sklearn.datasets import load_digits

    d = load_digits()
    pixels = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return pixels[:n], d.target[:n]


def loaded_probe(probe, n_way):
    model = load_model(probe, kind="image")
    return vision.with_task_head(model, n_way)


def random_task(probe, n=10, n_way=3, seed=0):
    rng = np.random.default_rng(seed)
    pil = [Image.fromarray(rng.integers(0, 256, (9 + i % 3, 8, 3), dtype=np.uint8)) for i in range(n)]
    processor = load_image_processor(probe)
    pixel_values = images.normalise(processor, images.geometry(processor, pil))
    labels = torch.as_tensor(np.arange(n) % n_way)
    return pixel_values, labels


def test_two_step_preprocessing_equals_the_processor_applied_once(image_probe):
    processor = load_image_processor(image_probe)
    rng = np.random.default_rng(0)
    pil = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in [(8, 8, 3), (40, 24, 3), (9, 31)]]
    pil = [im.convert("RGB") for im in pil]
    once = processor(pil, return_tensors="pt")["pixel_values"]
    stored = images.geometry(processor, pil)
    assert stored.dtype == np.uint8 and stored.shape == (3, 3, 32, 32)
    torch.testing.assert_close(images.normalise(processor, stored), once, rtol=0, atol=1e-6)


def slow_fisher_embedding(model, pixel_values, targets, minibatch):
    """From the definition: for each mini-batch, backward of the mean cross-entropy against
    the fixed targets; square every conv weight's gradient; average over mini-batches;
    then the mean over each filter, with explicit loops."""
    model.eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    sums = [torch.zeros_like(m.weight) for m in convs]
    starts = list(range(0, len(pixel_values), minibatch))
    for start in starts:
        model.zero_grad()
        logits = model(pixel_values=pixel_values[start : start + minibatch]).logits
        F.cross_entropy(logits, targets[start : start + minibatch]).backward()
        for s, m in zip(sums, convs):
            s += m.weight.grad**2
    out = []
    for s in sums:
        s = s / len(starts)
        for f in range(s.shape[0]):
            out.append(float(s[f].sum()) / s[f].numel())
    return np.array(out)


def test_fisher_embedding_matches_definition(image_probe):
    pixel_values, _ = random_task(image_probe, n=10)
    targets = torch.as_tensor([2, 0, 1, 1, 0, 2, 2, 1, 0, 0])
    settings = Settings(finetune=False, minibatch_size=4)
    model = loaded_probe(image_probe, 3)
    fast = vision.embed_task(model, pixel_values, None, settings, 0, targets=targets).vector
    reference = loaded_probe(image_probe, 3)
    torch.manual_seed(settings.seed)
    vision.head(reference).reset_parameters()  # the head embed_task starts from
    slow = slow_fisher_embedding(reference, pixel_values, targets, 4)
    assert len(fast) == 8 + 8 + 8 + 16 + 16 + 16  # every conv filter; no batch norm, no classifier
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-12)
    assert (fast >= 0).all() and (fast > 0).mean() > 0.5  # a few filters of a random net may be dead


def test_monte_carlo_labels_come_from_the_softmax(image_probe):
    """With a classifier that is certain of one class, every sampled label is that class,
    so the Fisher equals the one against those fixed labels."""
    pixel_values, _ = random_task(image_probe, n=8)
    settings = Settings(finetune=False, minibatch_size=4)
    model = loaded_probe(image_probe, 3)
    model.eval()
    h = vision.head(model)
    with torch.no_grad():
        h.weight.zero_()
        h.bias.copy_(torch.tensor([0.0, 60.0, 0.0]))
    acc = vision.fisher_diagonal(model, pixel_values, settings)
    fixed = vision.fisher_diagonal(model, pixel_values, settings, targets=torch.ones(8, dtype=torch.long))
    for key in acc:
        torch.testing.assert_close(acc[key], fixed[key])


def test_classifier_fit_matches_a_hand_written_loop(image_probe):
    pixel_values, labels = random_task(image_probe, n=12)
    settings = Settings(epochs=4, lr=1e-2, minibatch_size=5)
    model = loaded_probe(image_probe, 3).eval()
    torch.manual_seed(0)
    vision.head(model).reset_parameters()
    manual = copy.deepcopy(vision.head(model))
    losses = vision.fit_classifier(vision.head(model), vision.features(model, pixel_values, 5), labels, settings)
    with torch.no_grad():  # features computed another way: the backbone's pooled output
        feats = model.resnet(pixel_values).pooler_output.flatten(1)
    optimizer = torch.optim.Adam(manual.parameters(), lr=1e-2, eps=settings.eps, weight_decay=settings.weight_decay)
    manual_losses = []
    for _ in range(4):
        total = 0.0
        for start in (0, 5, 10):
            optimizer.zero_grad()
            loss = F.cross_entropy(manual(feats[start : start + 5]), labels[start : start + 5])
            loss.backward()
            optimizer.step()
            total += loss.item()
        manual_losses.append(total / 3)
    np.testing.assert_allclose(losses, manual_losses, rtol=1e-5)
    torch.testing.assert_close(vision.head(model).weight, manual.weight)
    assert losses[-1] < losses[0]  # it learns


def test_tasks_of_a_shard_equal_tasks_embedded_by_fresh_probes(image_probe):
    tasks = {i: random_task(image_probe, n=6, seed=i) for i in (3, 4)}
    settings = Settings(epochs=2, lr=1e-2, minibatch_size=3)
    shard = dict(vision.embed_tasks(loaded_probe(image_probe, 3), tasks, settings))
    for i, (pixel_values, labels) in tasks.items():
        fresh = vision.embed_task(loaded_probe(image_probe, 3), pixel_values, labels, settings, i)
        np.testing.assert_array_equal(shard[i].vector, fresh.vector)
    assert not np.array_equal(shard[3].vector, shard[4].vector)


def test_tasks_are_seeded_distinct_and_n_way_k_shot():
    labels = np.repeat(np.array(list("abcdefg")), 9)
    tasks = images.task_rows(labels, 6, 3, 2, seed=1, reuse=False)
    used = np.concatenate([rows for rows, _, _ in tasks])
    assert len(used) == len(set(used)) == 6 * 3 * 2  # an image in at most one task
    for rows, y, classes in tasks:
        assert len(set(classes)) == 3
        for k in range(3):  # label k is the k-th class drawn, k_shot images of it
            assert list(labels[rows[y == k]]) == [classes[k]] * 2
    again = images.task_rows(labels, 4, 3, 2, seed=1, reuse=False)
    for (a, ya, _), (b, yb, _) in zip(again, tasks):  # adding tasks keeps the first ones
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
    other = images.task_rows(labels, 4, 3, 2, seed=2, reuse=False)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(other, again))
    reused = images.task_rows(labels, 30, 3, 2, seed=1, reuse=True)
    assert len({frozenset(rows.tolist()) for rows, _, _ in reused}) == 30
    with pytest.raises(DataError, match="reuse_documents"):
        images.task_rows(labels, 11, 3, 2, seed=1, reuse=False)  # 7 classes x 9 images: 10 tasks at most
    with pytest.raises(DataError, match="distinct"):
        images.task_rows(np.repeat(np.array(list("ab")), 2), 2, 2, 2, seed=0, reuse=True)


def write_digit_sources(root, n=None):
    """The first n digits (all by default) as an image folder (files named by row) and as a parquet dataset."""
    import datasets

    pixels, target = digits_rgb(n)
    folder = root / "folder"
    for i, (p, t) in enumerate(zip(pixels, target)):
        (folder / str(t)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(p, mode="L").save(folder / str(t) / f"{i:05d}.png")
    hub = root / "hub"
    hub.mkdir()
    rows = {"image": [Image.fromarray(p, mode="L") for p in pixels], "label": [int(t) for t in target]}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(hub / "train.parquet"))
    return folder, hub


def test_the_three_image_sources_read_the_same_images(tmp_path):
    folder, hub = write_digit_sources(tmp_path, n=300)
    sampling = {"n_batches": 3, "n_way": 4, "k_shot": 3, "seed": 0, "reuse_documents": False}
    specs = {
        "folder": {"source": "image_folder", "root": str(folder)},
        "hub": {"source": "hub_images", "path": str(hub)},
    }
    config = cfg.validate({"probe": {"id": "x"}, "sampling": sampling, "datasets": specs, "task2vec": ONE_PER_JOB})
    pools = {name: images.prepare_images(name, spec) for name, spec in config["datasets"].items()}
    pixels, target = digits_rgb(300)
    hub_pool, folder_pool = pools["hub"], pools["folder"]
    for _, row in hub_pool.iterrows():  # the hub source: ids are rows of the digits
        i = int(row.document_id)
        assert row["class"] == str(target[i])
        decoded = np.asarray(Image.open(io.BytesIO(row.image)))
        np.testing.assert_array_equal(decoded, np.repeat(pixels[i][:, :, None], 3, axis=2))
    # the folder lists each class's files in row order, so the same tasks are drawn
    assert list(folder_pool.document_id) == [
        f"{c}/{int(i):05d}.png" for c, i in zip(hub_pool["class"], hub_pool.document_id)
    ]
    assert list(folder_pool.sha256) == list(hub_pool.sha256)
    assert list(folder_pool.label) == list(hub_pool.label)


def test_image_source_errors(tmp_path):
    spec = {"source": "hub_images", "path": "x", "split": "train", "image_field": "img", "label_field": "label"}
    folder, hub = write_digit_sources(tmp_path, n=20)
    with pytest.raises(DataError, match="image field 'img' not found; available fields: image, label"):
        images.open_source("d", {**spec, "path": str(hub)})
    with pytest.raises(DataError, match="does not exist"):
        images.open_source("d", {"source": "image_folder", "root": str(tmp_path / "nothing")})


def test_image_config_validation():
    base = {"probe": {"id": "p"}, "datasets": {"d": {"source": "digits"}}}
    config = cfg.validate({**base, "sampling": {"n_batches": 10, "n_way": 3, "k_shot": 4}})
    assert config["datasets"]["d"]["sampling"]["batch_size"] == 12
    assert config["datasets"]["d"]["sampling"]["max_length"] is None
    assert cfg.modality(config["datasets"]["d"]) == "image"
    text = cfg.validate({"probe": {"id": "p"}, "datasets": {"t": {"source": "upper_bound"}}})
    assert "n_way" not in text["datasets"]["t"]["sampling"]  # text batches keep their identity
    mixed = {"probe": {"id": "p"}, "datasets": {"d": {"source": "digits"}, "t": {"source": "upper_bound"}}}
    with pytest.raises(ConfigError, match="image dataset 'd' and text dataset 't' have the same probe"):
        cfg.validate(mixed)
    own = {"datasets": {**mixed["datasets"], "t": {"source": "upper_bound", "probe": {"id": "gpt2"}}}}
    assert cfg.modality(cfg.validate({**mixed, **own})["datasets"]["t"]) == "text"
    with pytest.raises(ConfigError, match="text-only variant"):
        cfg.validate({**base, "task2vec": {"variant": "exact"}})
    with pytest.raises(ConfigError, match="n_way' must be an integer >= 2 \\(a 1-way task has no Fisher\\), got 1"):
        cfg.validate({**base, "sampling": {"n_way": 1}})
    with pytest.raises(ConfigError, match="image dataset .d. has a built probe"):
        cfg.validate({**base, "probe": {"build": {}}})
    with pytest.raises(ConfigError, match="root' is missing"):
        cfg.validate({**base, "datasets": {"f": {"source": "image_folder"}}})
    with pytest.raises(ConfigError, match="unknown key 'text_field'"):
        cfg.validate({**base, "datasets": {"h": {"source": "hub_images", "path": "a/b", "text_field": "x"}}})


def test_sample_stores_uint8_tasks_labels_and_hashes(image_probe):
    sampling = {"n_batches": 2, "n_way": 3, "k_shot": 2}
    config = cfg.validate(
        {"probe": {"id": "p"}, "sampling": sampling, "datasets": {"d": {"source": "digits"}}, "task2vec": ONE_PER_JOB}
    )
    spec = config["datasets"]["d"]
    pool = images.prepare_images("d", spec)
    arrays, manifest, hashes = images.sample("d", pool, spec["sampling"], load_image_processor(image_probe))
    assert arrays["pixels"].shape == (2, 6, 3, 32, 32) and arrays["pixels"].dtype == np.uint8
    assert sorted(arrays["labels"][0]) == [0, 0, 1, 1, 2, 2]
    assert len(set(hashes)) == 2
    assert list(manifest.columns) == ["batch", "position", "document_id", "class", "label", "sha256"]
    assert isinstance(manifest, pd.DataFrame) and len(manifest) == 12


# --- the workflow ---------------------------------------------------------------------------

VISION = ROOT / "config" / "vision.yaml"


@pytest.mark.workflow
def test_vision_config_plans_the_study(tmp_path):
    paper = yaml.safe_load(VISION.read_text())
    jobs = planned_jobs(snakemake(tmp_path, paper, "-n"))
    n = len(paper["datasets"])
    assert n == 8  # CIFAR-FS, FC100, Aircraft, Flower, DTD, CUBirds, Omniglot, MiniImageNet
    assert jobs["embed_shard"] * paper["task2vec"]["embeddings_per_job"] == 200 * n
    # hub datasets are prepared by the fetch stage, which also fetches the probe, once
    assert jobs["fetch_dataset"] == jobs["sample_batches"] == jobs["distance_matrix"] == n
    assert "prepare_dataset" not in jobs and jobs["fetch_probe"] == 1
    assert jobs["diversity_report"] == 1 and "build_probe" not in jobs
    published = {name: spec.get("paper_diversity") for name, spec in paper["datasets"].items()}
    assert published["cifar_fs"] == 0.106 and published["omniglot"] == 0.159 and published["mini_imagenet"] is None
    config = cfg.validate(paper)
    assert {cfg.modality(spec) for spec in config["datasets"].values()} == {"image"}
    assert all(spec["sampling"]["batch_size"] == 100 for spec in config["datasets"].values())


def write_shapes(root, per_class=40, size=16, seed=0):
    """Generated RGB images of four pattern classes (stripes, checks, diagonals), random
    colours and phases."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    patterns = {
        "horizontal": lambda p: (y + p) // 2 % 2,
        "vertical": lambda p: (x + p) // 2 % 2,
        "checks": lambda p: ((x + p) // 3 + y // 3) % 2,
        "diagonal": lambda p: (x + y + p) // 3 % 2,
    }
    for name, pattern in patterns.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            mask = pattern(int(rng.integers(0, 6)))[:, :, None]
            a, b = rng.integers(0, 256, (2, 3))
            Image.fromarray((mask * a + (1 - mask) * b).astype(np.uint8)).save(root / name / f"{i:03d}.png")


def vision_config(workdir, probe) -> dict:
    folder, hub = write_digit_sources(workdir / "data")
    write_shapes(workdir / "data" / "shapes")
    return {
        "probe": {"id": probe["id"]},
        "task2vec": {"epochs": 3, "lr": 1.0e-2, "minibatch_size": 6, "embeddings_per_job": 10},
        "sampling": {"n_batches": 10, "n_way": 3, "k_shot": 4, "seed": 0},
        "report": {"bootstrap_replicates": 200},
        "datasets": {
            "digits": {"source": "digits", "paper_diversity": 0.1},
            "digits_folder": {"source": "image_folder", "root": str(folder)},
            "digits_hub": {"source": "hub_images", "path": str(hub)},
            "shapes": {"source": "image_folder", "root": str(workdir / "data" / "shapes")},
        },
    }


@pytest.mark.workflow
def test_vision_workflow_end_to_end(tmp_path, image_probe):
    config = vision_config(tmp_path, image_probe)
    run_ok(tmp_path, config)
    table = pd.read_csv(tmp_path / "results/report/diversity.csv").set_index("dataset")
    assert list(table.index) == list(config["datasets"])
    assert (table.n_batches == 10).all() and (table.batch_size == 12).all() and (table.n_pairs == 45).all()
    assert table.diversity.between(0, 1, inclusive="neither").all()
    assert (table.ci95_low <= table.diversity).all() and (table.diversity <= table.ci95_high).all()
    assert table.loc["digits", "difference"] == pytest.approx(table.loc["digits", "diversity"] - 0.1)
    # the same digits read by three sources give the same tasks, image for image, hence the same
    # embeddings and coefficient: a source that decodes or labels images wrongly breaks this
    manifests = {name: pd.read_csv(tmp_path / f"results/batches/{name}/manifest.tsv", sep="\t") for name in table.index}
    for name in ("digits_folder", "digits_hub"):
        assert list(manifests[name].sha256) == list(manifests["digits"].sha256)
        assert table.loc[name, "diversity"] == pytest.approx(table.loc["digits", "diversity"], rel=1e-6)
    digits = open_group(tmp_path / "results/distances/digits.zarr")["distances"][:]
    hub = open_group(tmp_path / "results/distances/digits_hub.zarr")["distances"][:]
    np.testing.assert_allclose(digits, hub, rtol=1e-6)
    # every task: 3 classes x 4 images, labels 0..2, all tasks distinct
    m = manifests["shapes"]
    assert (m.groupby("batch")["class"].nunique() == 3).all()
    assert (m.groupby(["batch", "label"]).size() == 4).all()
    assert m.groupby("batch").sha256.apply(frozenset).nunique() == 10
    # provenance of an embedding: the probe, the settings, the task's hash
    store = next((tmp_path / "results/embeddings/shapes").glob("*/batch0003.zarr"))
    attrs = dict(open_group(store).attrs)
    tasks = open_group(tmp_path / "results/batches/shapes/tokens.zarr")
    assert attrs["identity"]["probe"]["id"] == image_probe["id"]
    assert attrs["tokens_sha256"] == tasks.attrs["tokens_sha256"][3] and tasks.attrs["kind"] == "image"
    assert len(attrs["epoch_losses"]) == 3 and attrs["probe_revision"].startswith("sha256:")
    print("\n" + table[["diversity", "ci95_paper", "ci95"]].to_string())
