"""Meta-explanations: Spectral Relevance Analysis (SpRAy; Lapuschkin et al., Nat. Commun. 2019).

The paper's open question: what do many explanations, taken together, say about
the model? SpRAy clusters the saliency maps of all explained test images:

1. each map is reduced to |relevance| averaged over `block` x `block` pixel
   blocks and scaled to sum 1 (the pattern, not the strength, is compared);
2. a symmetric k-nearest-neighbour graph of the maps (scikit-learn), whose
   normalised Laplacian's eigenvalues give the number of clusters: the largest
   gap among the smallest `max_clusters` + 1 eigenvalues (the eigengap
   heuristic, von Luxburg 2007);
3. spectral clustering on that graph into that many clusters, and a 2-D t-SNE
   embedding for the figure (both scikit-learn, seeded).

Per cluster the mean map and the mean absolute HC error tell whether a group of
explanations collects the badly predicted images (the paper's Fig. 5, by eye).
Two numbers say how far to trust that reading: a Kruskal-Wallis test of the
absolute errors across clusters (do the clusters' errors differ at all?), and
the clustering's stability under subsampling (reclustered on random 80 % of the
images: the adjusted Rand index against the full clustering, and how often the
eigengap picks the same count) -- a partition that changes with the sample is
not a finding about the model.
NumPy/scipy/scikit-learn only (workflow env).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import laplacian

from hcxai.core.keys import MODEL_COLUMNS, MODEL_KEYS
from hcxai.core.seeding import SPRAY_SUBSAMPLE, stream

log = logging.getLogger(__name__)

# results/meta/{backbone}/{loss}/{analyzer}.csv
META_TABLE = {**MODEL_COLUMNS, "analyzer": "id", "fold": "int", "image_id": "id"}
META_TABLE |= {"cluster": "int", "tsne_x": "number", "tsne_y": "number", "abs_error_px": "number"}
# results/meta/{backbone}/{loss}/stability.csv: one row per analyzer
STABILITY_TABLE = {**MODEL_COLUMNS, "analyzer": "id", "stability_subsamples": "int"}
STABILITY_TABLE |= {
    "stability_ari_mean": "number_or_nan",
    "stability_same_k_share": "number_or_nan",
}
SUBSAMPLE_SHARE = 0.8  # each stability subsample keeps this share of the images


def block_pattern(maps: np.ndarray, block: int) -> np.ndarray:
    """(n, size, size) maps -> (n, (size/block)^2) block means of |relevance|, each summing to 1.

    A map without relevance (all zero) stays all zero.
    """
    n, size, _ = maps.shape
    if size % block:
        raise ValueError(f"block {block} does not divide the map size {size}")
    cells = size // block
    blocks = np.abs(maps).reshape(n, cells, block, cells, block).mean(axis=(2, 4))
    flat = blocks.reshape(n, -1).astype(np.float64)
    totals = flat.sum(axis=1, keepdims=True)
    return np.divide(flat, totals, out=np.zeros_like(flat), where=totals > 0)


def knn_affinity(patterns: np.ndarray, neighbours: int) -> np.ndarray:
    """Symmetric 0/1 k-nearest-neighbour graph of the patterns (Euclidean), as a dense matrix."""
    from sklearn.neighbors import kneighbors_graph

    k = min(neighbours, len(patterns) - 1)
    graph = kneighbors_graph(patterns, k, mode="connectivity", include_self=False).toarray()
    return np.maximum(graph, graph.T)


def eigengap_clusters(affinity: np.ndarray, max_clusters: int) -> tuple[int, np.ndarray]:
    """(number of clusters, the smallest eigenvalues) of the normalised graph Laplacian.

    The count is the k in 1..max_clusters after which the eigenvalues jump most.
    """
    eigenvalues = np.linalg.eigvalsh(laplacian(affinity, normed=True))
    smallest = np.sort(eigenvalues)[: max_clusters + 1]
    return int(np.argmax(np.diff(smallest)) + 1), smallest


def spectral_clusters(
    patterns: np.ndarray, neighbours: int, max_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(cluster of each pattern, numbered by size; the smallest Laplacian eigenvalues): step 2-3
    without the embedding, so that subsamples are reclustered exactly as the full set."""
    from sklearn.cluster import SpectralClustering

    affinity = knn_affinity(patterns, neighbours)
    count, eigenvalues = eigengap_clusters(affinity, max_clusters)
    if count == 1:
        return np.zeros(len(patterns), dtype=np.int64), eigenvalues
    labels = SpectralClustering(
        count, affinity="precomputed", random_state=seed, assign_labels="cluster_qr"
    ).fit_predict(affinity)
    # Number the clusters by size (0 = largest; ties by first image), so labels
    # do not depend on the clustering's arbitrary numbering.
    sizes = np.bincount(labels)
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(len(sizes))]
    rank = sorted(range(len(sizes)), key=lambda c: (-sizes[c], first[c]))
    return np.argsort(rank)[labels], eigenvalues


@dataclass(frozen=True)
class Stability:
    """How well the clustering survives subsampling (NaN when not measured)."""

    ari_mean: float  # mean adjusted Rand index, full clustering vs the subsample's own
    same_k_share: float  # share of subsamples whose eigengap picked the full count


def cluster_stability(
    patterns: np.ndarray,
    labels: np.ndarray,
    neighbours: int,
    max_clusters: int,
    seed: int,
    subsamples: int,
) -> Stability:
    """Recluster `subsamples` seeded random SUBSAMPLE_SHARE of the patterns with the same
    settings and compare with `labels` restricted to each subsample."""
    from sklearn.metrics import adjusted_rand_score

    if subsamples == 0:
        return Stability(ari_mean=float("nan"), same_k_share=float("nan"))
    n = len(patterns)
    size = max(2, round(SUBSAMPLE_SHARE * n))
    count = labels.max() + 1
    scores, same = [], []
    for repeat in range(subsamples):
        chosen = np.sort(stream(seed, SPRAY_SUBSAMPLE, repeat).choice(n, size, replace=False))
        with warnings.catch_warnings():  # the full clustering has said it once already
            warnings.filterwarnings("ignore", "Graph is not fully connected", UserWarning)
            sub_labels, _ = spectral_clusters(patterns[chosen], neighbours, max_clusters, seed)
        scores.append(adjusted_rand_score(labels[chosen], sub_labels))
        same.append(sub_labels.max() + 1 == count)
    return Stability(ari_mean=float(np.mean(scores)), same_k_share=float(np.mean(same)))


@dataclass(frozen=True)
class Spray:
    """The outcome of SpRAy on one set of maps."""

    labels: np.ndarray  # (n,) cluster of each map, 0..k-1, 0 the largest cluster
    embedding: np.ndarray  # (n, 2) t-SNE coordinates
    eigenvalues: np.ndarray  # the smallest Laplacian eigenvalues the count came from
    stability: Stability


def spectral_relevance_analysis(
    maps: np.ndarray,
    block: int,
    neighbours: int,
    max_clusters: int,
    seed: int,
    stability_subsamples: int,
) -> Spray:
    """Cluster and embed saliency maps (steps 1-3 of the module doc), and measure the
    clustering's stability over `stability_subsamples` subsamples (0: not measured)."""
    from sklearn.manifold import TSNE

    patterns = block_pattern(maps, block)
    labels, eigenvalues = spectral_clusters(patterns, neighbours, max_clusters, seed)
    stability = cluster_stability(
        patterns, labels, neighbours, max_clusters, seed, stability_subsamples
    )
    perplexity = float(min(30.0, max(2.0, (len(maps) - 1) / 3)))
    embedding = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        patterns
    )
    return Spray(labels=labels, embedding=embedding, eigenvalues=eigenvalues, stability=stability)


def cluster_summary(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: its size and the mean and median absolute HC error of its images."""
    grouped = per_image.groupby("cluster")["abs_error_px"]
    return pd.DataFrame(
        {
            "n_images": grouped.size(),
            "mean_abs_error_px": grouped.mean(),
            "median_abs_error_px": grouped.median(),
        }
    ).reset_index()


def cluster_means(maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, size, size): the mean |map| of each cluster, each scaled to max 1 (for display)."""
    means = np.stack([np.abs(maps[labels == c]).mean(axis=0) for c in range(labels.max() + 1)])
    peaks = means.reshape(len(means), -1).max(axis=1)[:, None, None]
    return np.divide(means, peaks, out=np.zeros_like(means), where=peaks > 0)


def errors_differ_p(per_image: pd.DataFrame) -> float:
    """Kruskal-Wallis p of the absolute HC error across clusters: whether the clusters'
    different mean errors are more than chance. NaN when untestable (one cluster, or a
    cluster of fewer than 2 images); 1 when every error is equal (scipy gives NaN)."""
    from scipy.stats import kruskal

    groups = [rows.to_numpy() for _, rows in per_image.groupby("cluster")["abs_error_px"]]
    if len(groups) < 2 or min(len(group) for group in groups) < 2:
        return float("nan")
    if np.ptp(np.concatenate(groups)) == 0:
        return 1.0
    return float(kruskal(*groups).pvalue)


def spray_table(
    saliency_paths: list[str],
    block: int,
    neighbours: int,
    max_clusters: int,
    seed: int,
    stability_subsamples: int,
) -> tuple[pd.DataFrame, np.ndarray, Spray]:
    """SpRAy over one model (backbone x loss) x analyzer's saliency files (all folds).

    Returns the per-image table (fold, image, cluster, t-SNE coordinates,
    absolute HC error), the maps and SpRAy's outcome.
    """
    from hcxai.core.io import InputError
    from hcxai.explain.saliency_file import read_labels, read_saliency

    labels = [read_labels(path) for path in saliency_paths]
    pair = {key: labels[0][key] for key in (*MODEL_KEYS, "analyzer")}
    for path, label in zip(saliency_paths, labels, strict=True):
        if {key: label[key] for key in pair} != pair:
            raise InputError(
                f"SpRAy takes one model x analyzer's files: {path} holds {label}, "
                f"{saliency_paths[0]} {labels[0]}"
            )
    files = [read_saliency(path) for path in saliency_paths]
    maps = np.concatenate([f.maps for f in files])
    spray = spectral_relevance_analysis(
        maps, block, neighbours, max_clusters, seed, stability_subsamples
    )
    table = pd.DataFrame(
        {
            **pair,
            "fold": np.concatenate(
                [
                    np.full(len(f.image_ids), int(label["fold"]))
                    for f, label in zip(files, labels, strict=True)
                ]
            ),
            "image_id": [i for f in files for i in f.image_ids],
            "cluster": spray.labels,
            "tsne_x": spray.embedding[:, 0],
            "tsne_y": spray.embedding[:, 1],
            "abs_error_px": np.concatenate([np.abs(f.hc_pred_px - f.hc_true_px) for f in files]),
        }
    )
    return table, maps, spray


# Draws one analyzer's SpRAy figure (table, cluster mean maps, eigenvalues, path): handed in
# by the job, since evaluation never imports the figures layer above it.
DrawSpray = Callable[[pd.DataFrame, np.ndarray, np.ndarray, str], None]


def write_meta_explanation(
    saliency_paths: list[str], table_path: str, figure_path: str, settings: dict, draw: DrawSpray
) -> dict:
    """`results/meta/{backbone}/{loss}/{analyzer}.csv` and its figure; returns the
    analyzer's row of the stability table."""
    from hcxai.core.io import atomic_output

    table, maps, spray = spray_table(saliency_paths, **settings)
    with atomic_output(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    count = spray.labels.max() + 1
    draw(table, cluster_means(maps, spray.labels), spray.eigenvalues, figure_path)
    summary = cluster_summary(table)
    key = {name: table[name].iloc[0] for name in (*MODEL_KEYS, "analyzer")}
    log.info(
        "%s/%s %s: %d images in %d cluster(s); sizes %s, mean |error| %s px, "
        "Kruskal-Wallis p %.3g; over %d subsamples ARI %.2f, same count %.0f%%",
        *key.values(),
        len(table),
        count,
        summary["n_images"].tolist(),
        [round(e, 1) for e in summary["mean_abs_error_px"]],
        errors_differ_p(table),
        settings["stability_subsamples"],
        spray.stability.ari_mean,
        100 * spray.stability.same_k_share,
    )
    return {
        **key,
        "stability_subsamples": settings["stability_subsamples"],
        "stability_ari_mean": spray.stability.ari_mean,
        "stability_same_k_share": spray.stability.same_k_share,
    }


def write_meta_explanations(
    saliency_paths: list[list[str]],
    table_paths: list[str],
    figure_paths: list[str],
    stability_path: str,
    settings: dict,
    draw: DrawSpray,
) -> None:
    """`write_meta_explanation` for several analyzers (lists in one order), in one job,
    and their stability table `results/meta/{backbone}/{loss}/stability.csv`."""
    from hcxai.core.io import atomic_output

    rows = [
        write_meta_explanation(paths, table, figure, settings, draw)
        for paths, table, figure in zip(saliency_paths, table_paths, figure_paths, strict=True)
    ]
    with atomic_output(stability_path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")


def errors_differ_holm(summary: pd.DataFrame, key: list[str]) -> pd.Series:
    """Holm's adjustment of `errors_differ_p` over each model's analyzers (one test per
    analyzer, repeated on its clusters' rows): ~9 tests at once flag some by chance."""
    from hcxai.stats.inference import holm

    tests = summary.drop_duplicates(key)[[*key, "errors_differ_p"]]
    per_model = tests.groupby(key[:-1], sort=False)["errors_differ_p"]
    tests = tests.assign(errors_differ_p_holm=per_model.transform(holm))
    return summary[key].merge(tests, on=key, how="left")["errors_differ_p_holm"].to_numpy()


def write_meta_summary(
    table_paths: list[str], stability_paths: list[str], out_path: str, alpha: float
) -> None:
    """`results/meta.csv`: per model x analyzer x cluster, its size and mean error; then per
    model x analyzer (repeated on its clusters' rows) whether the clusters' errors differ
    (Kruskal-Wallis p, Holm-adjusted over the model's analyzers, < `alpha`) and how stable
    the clustering is under subsampling."""
    from hcxai.core.io import InputError, atomic_output, read_table

    key = [*MODEL_KEYS, "analyzer"]
    stability = pd.concat(
        read_table(path, STABILITY_TABLE, rule="meta_explanation", unique=key)
        for path in stability_paths
    )
    rows = []
    for path in table_paths:
        table = read_table(path, META_TABLE, rule="meta_explanation", unique=["image_id"])
        summary = cluster_summary(table)
        summary.insert(0, "n_clusters", len(summary))
        for name in reversed(key):
            summary.insert(0, name, table[name].iloc[0])
        summary["errors_differ_p"] = errors_differ_p(table)
        rows.append(summary)
    out = pd.concat(rows, ignore_index=True)
    out["errors_differ_p_holm"] = errors_differ_holm(out, key)
    # NaN (untestable) is no evidence of a difference.
    out["errors_differ"] = out["errors_differ_p_holm"] < alpha
    out = out.merge(stability, on=key, how="left", validate="many_to_one")
    missing = out.loc[out["stability_subsamples"].isna(), key].drop_duplicates()
    if len(missing):
        raise InputError(
            f"no stability row for {missing.to_dict('records')} in {stability_paths}; "
            "rerun rule meta_explanation"
        )
    with atomic_output(out_path) as tmp:
        out.to_csv(tmp, index=False, float_format="%.6g")
