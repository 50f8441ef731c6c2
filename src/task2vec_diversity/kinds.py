"""The kinds of dataset source, one row each: what a kind holds and how the workflow reads it.

The schema (config.schema.yaml, ``dataset.source``) lists the same names with their keys, and
tests/test_config.py checks that the two agree. Imported at parse time: no torch, no data.
"""

from __future__ import annotations

from typing import NamedTuple


class Kind(NamedTuple):
    modality: str  # "text": batches of token sequences; "image": few-shot classification tasks
    hub: bool = False  # read from the hub by its `path` (unless a local folder): the fetch stage reads it
    component: bool = False  # may be a component of a mix
    tokenizer: bool = False  # its documents are made with the probe's tokenizer


SOURCE_KINDS = {
    "hub": Kind("text", hub=True, component=True),
    "files": Kind("text", component=True),
    "lower_bound": Kind("text", tokenizer=True),
    "upper_bound": Kind("text", tokenizer=True),
    "ginc": Kind("text"),
    "mix": Kind("text"),  # documents of hub or files datasets, interleaved by weight
    "hub_images": Kind("image", hub=True),
    "image_folder": Kind("image"),
    "digits": Kind("image"),
}
# few-shot tasks of labelled images (docs/method.md#vision)
IMAGE_SOURCES = tuple(name for name, kind in SOURCE_KINDS.items() if kind.modality == "image")
