"""The Fisher regime of a dataset's embeddings and the decomposition of its diversity by module.

The distance's absolute eps = 1e-8 (docs/method.md#distance) decides which coordinates count: a
coordinate whose Fisher value is far below it contributes u_k ~ v_k ~ 0; far above it, the
pair-normalised values h_a / (h_a + h_b) count fully. ``regime`` gives, over a dataset's
embeddings, the share of coordinates above eps and the share of the Fisher mass (sum of values)
they hold; ``group_regime`` the same per group of modules.

Decomposition. With u = h_a / (h_a + h_b + eps), v = h_b / (h_a + h_b + eps) and U = u / |u|,
V = v / |v| (unit vectors),

    d(a, b) = 1 - <U, V> = 1/2 |U - V|^2 = sum_k 1/2 (U_k - V_k)^2,

a sum of non-negative terms, one per coordinate. The contribution of a group of coordinates G
to the pair's distance is sum_{k in G} 1/2 (U_k - V_k)^2; the groups partition the coordinates,
so the contributions add up exactly (to float rounding) to d(a, b), and their means over the
dataset's pairs add up to its diversity coefficient. Groups, from the probe's module names and
types (in the embedding's module order):

- ``token_both``, ``token_one``, ``token_neither``: the rows of the input token embedding whose
  token occurs (as a real, unpadded token) in both batches of the pair, in exactly one, or in
  neither: a partition that depends on the pair;
- ``position``: position embeddings; ``layer_norm``: normalisation layers; ``attention`` and
  ``mlp``: the weights of modules named ``attn``/``attention`` and ``mlp``; ``other``: the rest.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8
TOKEN_GROUPS = ["token_both", "token_one", "token_neither"]
STATIC_GROUPS = ["position", "layer_norm", "attention", "mlp", "other"]
GROUPS = TOKEN_GROUPS + STATIC_GROUPS
DECOMPOSITION_COLUMNS = [
    "dataset",
    "group",
    "n_coordinates",
    "contribution",
    "share_of_distance",
    "coordinates_above_eps",
    "mass_above_eps",
    "median_fisher",
]


def module_group(name: str, module, token_module) -> str:
    """The group of a module's coordinates ("token" for the input token embedding)."""
    kind = type(module).__name__.lower()
    last = name.rsplit(".", 1)[-1].lower()
    if module is token_module:
        return "token"
    if "norm" in kind or last.startswith("ln") or "norm" in last:
        return "layer_norm"
    if "embedding" in kind or "wpe" in last or "position" in last:
        return "position"
    if "attn" in name.lower() or "attention" in name.lower():
        return "attention"
    if "mlp" in name.lower() or "feed_forward" in name.lower():
        return "mlp"
    return "other"


def layout(model) -> list[tuple[str, str, int]]:
    """(module name, group, number of coordinates) of the embedding's blocks, in order: the
    same modules, in the same order, as ``task2vec.embedded_weights``."""
    from .task2vec import embedded_weights

    modules = dict(model.named_modules())
    token_module = model.get_input_embeddings()
    return [
        (name, module_group(name, modules[name], token_module), int(w.shape[0])) for name, w in embedded_weights(model)
    ]


def group_index(blocks: list) -> tuple[np.ndarray, slice | None]:
    """Per coordinate, the index of its static group in STATIC_GROUPS (-1 for the token rows),
    and the slice of the token rows (None when the layout has none)."""
    index, start, tokens = [], 0, None
    for _, group, size in blocks:
        if group == "token":
            tokens = slice(start, start + size)
            index.append(np.full(size, -1))
        else:
            index.append(np.full(size, STATIC_GROUPS.index(group)))
        start += size
    return np.concatenate(index), tokens


def token_presence(input_ids: np.ndarray, attention_mask: np.ndarray, vocab_size: int) -> np.ndarray:
    """[batches, vocab] bool: which tokens occur as real (unpadded) tokens in each batch."""
    present = np.zeros((len(input_ids), vocab_size), dtype=bool)
    for b, (ids, mask) in enumerate(zip(input_ids, attention_mask)):
        real = ids[mask.astype(bool)]
        present[b, real[real < vocab_size]] = True
    return present


def decompose(
    embeddings: np.ndarray, blocks: list, present: np.ndarray | None, eps: float = EPS
) -> tuple[np.ndarray, np.ndarray]:
    """Contributions of every group to every pair i < j of the embeddings [n, dim]:
    ([pairs, len(GROUPS)], the pairs' distances 1 - <U, V> computed directly, [pairs])."""
    from .noise import unit_pair

    static, tokens = group_index(blocks)
    if len(static) != embeddings.shape[1]:
        raise ValueError(f"the probe's layout has {len(static)} coordinates, the embeddings {embeddings.shape[1]}")
    one_hot = np.zeros((len(static), len(STATIC_GROUPS)))
    keep = static >= 0
    one_hot[np.flatnonzero(keep), static[keep]] = 1.0
    rows, cols = np.triu_indices(len(embeddings), k=1)
    out = np.zeros((len(rows), len(GROUPS)))
    direct = np.zeros(len(rows))
    chunk = max(1, 2**22 // max(1, len(static)))  # pairs at a time: arrays of about 32 MB
    for start in range(0, len(rows), chunk):
        i, j = rows[start : start + chunk], cols[start : start + chunk]
        done = slice(start, start + len(i))
        big_u, big_v = unit_pair(embeddings[i], embeddings[j], eps)
        direct[done] = 1.0 - np.sum(big_u * big_v, axis=1)
        terms = 0.5 * (big_u - big_v) ** 2
        out[done, len(TOKEN_GROUPS) :] = terms @ one_hot
        if tokens is not None:
            rows_t = terms[:, tokens]
            if present is None:
                out[done, 2] = rows_t.sum(axis=1)
            else:
                a, b = present[i][:, : rows_t.shape[1]], present[j][:, : rows_t.shape[1]]
                out[done, 0] = (rows_t * (a & b)).sum(axis=1)
                out[done, 1] = (rows_t * (a ^ b)).sum(axis=1)
                out[done, 2] = (rows_t * ~(a | b)).sum(axis=1)
    return out, direct


def regime(embeddings: np.ndarray, eps: float = EPS) -> dict:
    """Over all the dataset's embeddings: the share of their coordinates above eps and the
    share of their Fisher mass (sum of the values) those coordinates hold."""
    h = np.asarray(embeddings, dtype=np.float64)
    above = h > eps
    total = h.sum()
    return {
        "fisher_coordinates_above_eps": float(above.mean()),
        "fisher_mass_above_eps": float((h * above).sum() / total) if total > 0 else float("nan"),
    }


def group_regime(embeddings: np.ndarray, blocks: list, eps: float = EPS) -> dict[str, dict]:
    """Per static group and for all token rows together ("token"): number of coordinates,
    share above eps, share of the group's Fisher mass above eps, median Fisher value."""
    static, tokens = group_index(blocks)
    h = np.asarray(embeddings, dtype=np.float64)
    masks = {group: static == k for k, group in enumerate(STATIC_GROUPS)}
    if tokens is not None:
        masks["token"] = static == -1
    out = {}
    for group, mask in masks.items():
        part = h[:, mask]
        if part.shape[1] == 0:
            continue
        total = part.sum()
        out[group] = {
            "n_coordinates": int(mask.sum()),
            "coordinates_above_eps": float((part > eps).mean()),
            "mass_above_eps": float((part * (part > eps)).sum() / total) if total > 0 else float("nan"),
            "median_fisher": float(np.median(part)),
        }
    return out


def decomposition_rows(dataset: str, contributions: np.ndarray, group_stats: dict) -> list[dict]:
    """The long table: one row per group with its mean contribution to the dataset's pairs'
    distance and its share of the diversity, then a ``total`` row (= the diversity)."""
    means = contributions.mean(axis=0)
    total = float(means.sum())
    rows = []
    for k, group in enumerate(GROUPS):
        stats = group_stats.get("token" if group in TOKEN_GROUPS else group)
        if stats is None and means[k] == 0:
            continue
        rows.append(
            {
                "dataset": dataset,
                "group": group,
                "n_coordinates": stats["n_coordinates"] if stats and group not in TOKEN_GROUPS else np.nan,
                "contribution": float(means[k]),
                "share_of_distance": float(means[k] / total) if total > 0 else np.nan,
                "coordinates_above_eps": stats["coordinates_above_eps"] if stats else np.nan,
                "mass_above_eps": stats["mass_above_eps"] if stats else np.nan,
                "median_fisher": stats["median_fisher"] if stats else np.nan,
            }
        )
    rows.append(
        {
            "dataset": dataset,
            "group": "total",
            "n_coordinates": sum(s["n_coordinates"] for s in group_stats.values()),
            "contribution": total,
            "share_of_distance": 1.0,
            "coordinates_above_eps": np.nan,
            "mass_above_eps": np.nan,
            "median_fisher": np.nan,
        }
    )
    return rows


def decomposition_figure(table, path: str) -> None:
    """Stacked bars: each dataset's diversity split into the groups' mean contributions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = table[table.group != "total"].pivot(index="dataset", columns="group", values="contribution").fillna(0.0)
    parts = parts.loc[list(dict.fromkeys(table.dataset)), [g for g in GROUPS if g in parts.columns]]
    fig, ax = plt.subplots(figsize=(1.3 * len(parts) + 4, 4.5))
    bottom = np.zeros(len(parts))
    for k, group in enumerate(parts.columns):
        ax.bar(parts.index, parts[group], bottom=bottom, label=group, color=f"C{k % 10}")
        bottom += parts[group].to_numpy()
    ax.set_ylabel("mean contribution to the Task2Vec distance")
    ax.set_title("Diversity coefficient by module: sum over coordinates of 1/2 (U_k - V_k)^2")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
