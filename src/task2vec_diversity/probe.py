"""The probe network: loaded from a hub id or a local directory through the same
``from_pretrained`` code path, or built locally (a small GPT-2-architecture model with a
word-level tokenizer over the GINC symbols) for the offline demo and the tests."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError
from .hub import commit, pretrained_source
from .runner import compute

log = logging.getLogger(__name__)

EOS_TOKEN = "<|endoftext|>"
UNK_TOKEN = "<unk>"


def load_tokenizer(probe: dict):
    """The probe's tokenizer, with pad = EOS taken from the tokenizer itself."""
    from transformers import AutoTokenizer

    path, revision = pretrained_source(probe["id"], probe["revision"])
    tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=False)
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"probe '{probe['id']}': its tokenizer has no EOS token, which pads the batches")
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def max_positions(probe: dict) -> int | None:
    """The longest sequence a text probe takes (its config's n_positions), without its weights."""
    from transformers import AutoConfig

    path, revision = pretrained_source(probe["id"], probe["revision"])
    found = AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=False)
    for key in ("n_positions", "max_position_embeddings"):
        if isinstance(getattr(found, key, None), int):
            return getattr(found, key)
    return None


def load_image_processor(probe: dict):
    """The image probe's own preprocessing (resize, crop, rescale, normalise), e.g. the
    ConvNeXt-style processor of microsoft/resnet-18 (its PIL backend: no torchvision needed)."""
    from transformers import AutoImageProcessor

    path, revision = pretrained_source(probe["id"], probe["revision"])
    return AutoImageProcessor.from_pretrained(path, revision=revision, trust_remote_code=False)


def load_model(probe: dict, device: str = "cpu", kind: str = "text"):
    """The probe as a causal LM (kind text) or an image classifier (kind image, e.g.
    microsoft/resnet-18): pretrained weights, or a seeded random init of its config."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageClassification

    auto = AutoModelForImageClassification if kind == "image" else AutoModelForCausalLM
    path, revision = pretrained_source(probe["id"], probe["revision"])
    if probe["init"] == "random":
        config = AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=False)
        torch.manual_seed(probe["init_seed"])
        model = auto.from_config(config, trust_remote_code=False)
    else:
        model = auto.from_pretrained(path, revision=revision, dtype=torch.float32, trust_remote_code=False)
    return model.to(device)


def resolved_revision(probe: dict, model) -> str:
    """The revision the weights actually came from: the hub commit (of the local copy the
    fetch stage made), or for a local directory a hash of its weight files."""
    path, _ = pretrained_source(probe["id"], probe["revision"])
    found = commit(path) or getattr(model.config, "_commit_hash", None)
    if found:
        return found
    path = Path(path)
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not files:
        return probe["revision"] or "unknown"
    sha = hashlib.sha256()
    for f in files:
        sha.update(f.read_bytes())
    return "sha256:" + sha.hexdigest()[:16]


def build_tokenizer(n_symbols: int):
    """A word-level tokenizer over EOS, UNK and the GINC vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from .ginc import vocabulary

    vocab = {EOS_TOKEN: 0, UNK_TOKEN: 1}
    for word in vocabulary(n_symbols):
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=EOS_TOKEN, unk_token=UNK_TOKEN, pad_token=EOS_TOKEN
    )


def build_probe(build: dict, out_dir: str | Path, log_line=log.info) -> None:
    """Save a probe and its word-level tokenizer over the GINC symbols with ``save_pretrained``:
    a small GPT-2 built from the given sizes, or, with ``from``, a causal LM loaded from a
    hub id or path whose token embeddings are resized to the tokenizer (as the paper does
    for GINC). Optionally pre-train it briefly on GINC documents (next-token loss)."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer(build["n_symbols"])
    special = {k: tokenizer.eos_token_id for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    torch.manual_seed(build["seed"])
    if build["from"]:
        path, revision = pretrained_source(build["from"], build["from_revision"])
        model = AutoModelForCausalLM.from_pretrained(
            path, revision=revision, dtype=torch.float32, trust_remote_code=False
        )
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        for key, value in special.items():
            setattr(model.config, key, value)
        log_line(f"loaded {build['from']} and resized its token embeddings to {len(tokenizer)}")
    else:
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=build["n_positions"],
            n_embd=build["n_embd"],
            n_layer=build["n_layer"],
            n_head=build["n_head"],
            **special,
        )
        model = GPT2LMHeadModel(config)
    if build["pretrain_steps"] > 0:
        with compute(log_line, "pretrain"):
            pretrain(model, tokenizer, build, log_line)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def pretrain(model, tokenizer, build: dict, log_line) -> None:
    """A short next-token pre-training, so that the probe knows language-like structure as a
    pretrained LM does: GINC documents with ``pretrain_concepts`` concepts, and one sequence
    in four a single repeated token (a pretrained LM continues a repetition)."""
    from .ginc import GincSpec, generate_documents, vocabulary

    length = build["n_positions"]
    steps, batch = build["pretrain_steps"], 16
    spec = GincSpec(
        n_concepts=build["pretrain_concepts"],
        n_symbols=build["n_symbols"],
        n_documents=steps * batch // 8 + 1,
        document_length=8 * length,
        seed=build["seed"] + 7919,
    )
    symbols, _ = generate_documents(spec)
    token_of_symbol = np.asarray(tokenizer.convert_tokens_to_ids(vocabulary(build["n_symbols"])))
    ids = torch.as_tensor(token_of_symbol[symbols.reshape(-1, length)])
    rng = np.random.default_rng(build["seed"])
    repeated = rng.random(len(ids)) < 0.25
    ids[repeated] = torch.as_tensor(rng.choice(token_of_symbol, size=int(repeated.sum())))[:, None]
    optimizer = torch.optim.AdamW(model.parameters(), lr=build["pretrain_lr"])
    model.train()
    for step in range(steps):
        x = ids[step * batch : (step + 1) * batch]
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0 or step == steps - 1:
            log_line(f"pretrain step {step + 1}/{steps} loss {loss.item():.4f}")
