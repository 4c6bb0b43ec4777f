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
NumPy/scipy/scikit-learn only (workflow env).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import laplacian

log = logging.getLogger(__name__)

# results/meta/{backbone}/{loss}/{analyzer}.csv
META_TABLE = {"backbone": "id", "loss": "id", "analyzer": "id", "fold": "int", "image_id": "id"}
META_TABLE |= {"cluster": "int", "tsne_x": "number", "tsne_y": "number", "abs_error_px": "number"}


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


@dataclass(frozen=True)
class Spray:
    """The outcome of SpRAy on one set of maps."""

    labels: np.ndarray  # (n,) cluster of each map, 0..k-1, 0 the largest cluster
    embedding: np.ndarray  # (n, 2) t-SNE coordinates
    eigenvalues: np.ndarray  # the smallest Laplacian eigenvalues the count came from


def spectral_relevance_analysis(
    maps: np.ndarray, block: int, neighbours: int, max_clusters: int, seed: int
) -> Spray:
    """Cluster and embed saliency maps (steps 1-3 of the module doc)."""
    from sklearn.cluster import SpectralClustering
    from sklearn.manifold import TSNE

    patterns = block_pattern(maps, block)
    affinity = knn_affinity(patterns, neighbours)
    count, eigenvalues = eigengap_clusters(affinity, max_clusters)
    if count == 1:
        labels = np.zeros(len(maps), dtype=np.int64)
    else:
        labels = SpectralClustering(
            count, affinity="precomputed", random_state=seed, assign_labels="cluster_qr"
        ).fit_predict(affinity)
    # Number the clusters by size (0 = largest; ties by first image), so labels
    # do not depend on the clustering's arbitrary numbering.
    sizes = np.bincount(labels)
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(len(sizes))]
    rank = sorted(range(len(sizes)), key=lambda c: (-sizes[c], first[c]))
    labels = np.argsort(rank)[labels]
    perplexity = float(min(30.0, max(2.0, (len(maps) - 1) / 3)))
    embedding = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        patterns
    )
    return Spray(labels=labels, embedding=embedding, eigenvalues=eigenvalues)


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


def spray_table(
    saliency_paths: list[str], block: int, neighbours: int, max_clusters: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """SpRAy over one model (backbone x loss) x analyzer's saliency files (all folds).

    Returns the per-image table (fold, image, cluster, t-SNE coordinates,
    absolute HC error), the maps and their cluster labels.
    """
    from hcxai.io import InputError
    from hcxai.saliency_file import read_labels, read_saliency

    labels = [read_labels(path) for path in saliency_paths]
    pair = {key: labels[0][key] for key in ("backbone", "loss", "analyzer")}
    for path, label in zip(saliency_paths, labels, strict=True):
        if {key: label[key] for key in pair} != pair:
            raise InputError(
                f"SpRAy takes one model x analyzer's files: {path} holds {label}, "
                f"{saliency_paths[0]} {labels[0]}"
            )
    files = [read_saliency(path) for path in saliency_paths]
    maps = np.concatenate([f.maps for f in files])
    spray = spectral_relevance_analysis(maps, block, neighbours, max_clusters, seed)
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
    return table, maps, spray.labels


def write_meta_explanation(
    saliency_paths: list[str], table_path: str, figure_path: str, settings: dict
) -> None:
    """`results/meta/{backbone}/{loss}/{analyzer}.csv` and its figure."""
    from hcxai.figures import plot_meta_explanation, save
    from hcxai.io import atomic_output

    table, maps, labels = spray_table(saliency_paths, **settings)
    with atomic_output(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    save(plot_meta_explanation(table, cluster_means(maps, labels)), figure_path)
    summary = cluster_summary(table)
    log.info(
        "%s/%s %s: %d images in %d cluster(s); sizes %s, mean |error| %s px",
        table["backbone"].iloc[0],
        table["loss"].iloc[0],
        table["analyzer"].iloc[0],
        len(table),
        len(summary),
        summary["n_images"].tolist(),
        [round(e, 1) for e in summary["mean_abs_error_px"]],
    )


def write_meta_explanations(
    saliency_paths: list[list[str]], table_paths: list[str], figure_paths: list[str], settings: dict
) -> None:
    """`write_meta_explanation` for several analyzers (lists in one order), in one job."""
    for paths, table, figure in zip(saliency_paths, table_paths, figure_paths, strict=True):
        write_meta_explanation(paths, table, figure, settings)


def write_meta_summary(table_paths: list[str], out_path: str) -> None:
    """`results/meta.csv`: per model x analyzer x cluster, its size and mean error."""
    from hcxai.io import atomic_output, read_table

    rows = []
    for path in table_paths:
        table = read_table(path, META_TABLE, rule="meta_explanation", unique=["image_id"])
        summary = cluster_summary(table)
        summary.insert(0, "n_clusters", len(summary))
        for key in ("analyzer", "loss", "backbone"):
            summary.insert(0, key, table[key].iloc[0])
        rows.append(summary)
    with atomic_output(out_path) as tmp:
        pd.concat(rows, ignore_index=True).to_csv(tmp, index=False, float_format="%.6g")
