"""Cluster segment description embeddings by density, without inventing clusters from noise (pure).

Real description embeddings of one product share a common direction and sit at cross-topic
cosines of 0.3-0.6, so no absolute similarity separates topics for every embedding model. Every
decision here is taken relative to the tick's own geometry instead:

1. Centre and reduce: PCA (fitted on a seeded sample) removes the direction all descriptions
   share; rows are re-normalized, so distances are cosine distances between what differs.
2. A k-nearest-neighbour graph (exact blocked products for small ticks, an HNSW index built
   single-threaded in row order, hence deterministic, for large ones).
3. HDBSCAN's hierarchy on that graph: each segment's core distance is the distance to its
   ``min_samples``-th neighbour, edges are weighted by mutual reachability, the minimum spanning
   forest gives the single-linkage tree, condensed at ``min_cluster_size`` (hdbscan's own tree code).
4. Significance against null ticks: every node of the hierarchy gets its relative excess of mass
   (how much longer its segments stay together than the distance it formed at, as a ratio, so
   free of the model's distance scale). The same hierarchy is built on null ticks, the tick's
   principal coordinates shuffled independently (seeded): same spread per direction, no topics.
5. Clusters are the leaves of the condensed tree that beat every node of the null hierarchies,
   with the segments that stay in them as much longer than the leaf formed (a segment that leaves
   as soon as the leaf forms was only swept in with it), so random vectors give nothing.
6. A segment left out joins the cluster it passes as a member of: its mean cosine to the members
   reaches ``min_ratio`` of theirs to each other, the rule tasks are matched by.

Cluster ids are ordered by each cluster's first segment; the same rows in the same order give
the same labels (the pipeline orders a tick's rows canonically before clustering).
"""

from __future__ import annotations

import os

import numpy as np
from hdbscan._hdbscan_linkage import label as single_linkage_tree
from hdbscan._hdbscan_tree import condense_tree
from pydantic import BaseModel, Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from sklearn.decomposition import PCA

from replay_assets.matching import MIN_RATIO


class ClusteringParams(BaseModel):
    min_cluster_size: int = Field(
        5, description="Fewest segments a cluster has: a problem seen this often in a tick recurs."
    )
    min_samples: int = Field(
        5, description="Density scale: a segment's core distance is to its min_samples-th neighbour."
    )
    neighbours: int = Field(15, description="Neighbours per segment in the graph the hierarchy is built on.")
    min_ratio: float = Field(
        MIN_RATIO,
        description="A left-out segment joins a cluster when its mean cosine to the members "
        "reaches this share of theirs to each other (as tasks are matched).",
    )
    floor_spreads: float = Field(
        3.0,
        description="Clusters take members only when their segments are more alike than "
        "this many standard deviations of the tick's random-pair cosines.",
    )
    reduced_dimensions: int = Field(128, description="PCA components kept after centring.")
    pca_sample: int = 3000
    block_rows: int = 4096
    exact_search_below: int = Field(5000, description="Up to this many segments, neighbours are searched exactly.")
    null_rows: int = Field(5000, description="Rows of a null tick (a seeded sample of the tick's, shuffled).")
    null_draws: int = Field(3, description="Null ticks drawn; a node must beat every node of all of them.")
    index_links: int = Field(16, description="HNSW links per node (M).")
    index_build_effort: int = Field(40, description="HNSW ef_construction: candidates kept while building.")
    seed: int = 0


def normalize(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def inverse_norms(embeddings: np.ndarray) -> np.ndarray:
    """``1 / |row|`` per row (1 for a zero row), float32: rows are scaled on the fly, never copied normalized."""
    norms = np.sqrt(np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64))
    return (1.0 / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def row_dots(x: np.ndarray, x_rows: np.ndarray, y: np.ndarray, y_rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``sum(x[x_rows] * y[y_rows], axis=1)``, gathered in chunks small enough for the allocator to reuse."""
    out = np.empty(len(x_rows), dtype=np.float32)
    for start in range(0, len(x_rows), chunk):
        stop = start + chunk
        out[start:stop] = np.einsum("ij,ij->i", x[x_rows[start:stop]], y[y_rows[start:stop]])
    return out


def principal_coordinates(x: np.ndarray, params: ClusteringParams, context: np.ndarray | None = None) -> np.ndarray:
    """Unit rows of ``context`` then ``x``, centred and projected by a PCA fitted on a seeded sample
    of them (float32).

    The projection is applied to the raw rows and each product scaled by its row's inverse norm,
    block by block, so no normalized or stacked copy of a large tick is made.
    """
    blocks = [b for b in (context, x) if b is not None and len(b)]
    n, dim = sum(len(b) for b in blocks), x.shape[1]
    rng = np.random.default_rng(params.seed)
    sample = np.arange(n) if n <= params.pca_sample else np.sort(rng.choice(n, params.pca_sample, replace=False))
    starts = np.cumsum([0] + [len(b) for b in blocks])
    rows = np.vstack(
        [b[sample[(sample >= lo) & (sample < hi)] - lo] for b, lo, hi in zip(blocks, starts[:-1], starts[1:])]
    )
    unit_sample = rows * inverse_norms(rows)[:, None]
    components = min(params.reduced_dimensions, dim, len(sample))
    if components >= dim:
        return np.vstack([b * inverse_norms(b)[:, None] for b in blocks]) - unit_sample.mean(axis=0)
    # Three power iterations: enough to separate the leading directions neighbours are found in.
    pca = PCA(components, svd_solver="randomized", iterated_power=3, random_state=params.seed).fit(unit_sample)
    basis, shift = pca.components_.T.astype(np.float32), (pca.mean_ @ pca.components_.T).astype(np.float32)
    return np.vstack([(b @ basis) * inverse_norms(b)[:, None] for b in blocks]) - shift


def exact_neighbours(z: np.ndarray, k: int, block_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar rows of each unit row (self excluded), nearest first, and their cosine distances."""
    n = len(z)
    index = np.empty((n, k), dtype=np.int64)
    distance = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block_rows):
        sims = z[start : start + block_rows] @ z.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # nearest first; ties by row number
        index[start : start + len(rows)] = np.take_along_axis(top, order, axis=1)
        distance[start : start + len(rows)] = 1.0 - np.take_along_axis(top_sims, order, axis=1)
    return index, distance


def index_neighbours(z: np.ndarray, k: int, params: ClusteringParams) -> tuple[np.ndarray, np.ndarray]:
    """Approximate ``k`` nearest unit rows by cosine; building with one thread in row order keeps the index deterministic."""
    import hnswlib

    n = len(z)
    index = hnswlib.Index(space="ip", dim=z.shape[1])
    index.set_num_threads(1)
    index.init_index(
        max_elements=n, ef_construction=params.index_build_effort, M=params.index_links, random_seed=params.seed
    )
    index.add_items(z, np.arange(n))
    index.set_ef(max(50, 2 * k))
    index.set_num_threads(os.cpu_count() or 1)  # queries read the built index independently: same answers, any threads
    found, distance = index.knn_query(z, k=k + 1)
    # Drop each row itself (normally the first hit, but a duplicate row may come first).
    others = found != np.arange(n)[:, None]
    others[others.sum(axis=1) > k, -1] = False
    return found[others].reshape(n, k).astype(np.int64), distance[others].reshape(n, k).astype(np.float32)


def neighbour_graph(z: np.ndarray, params: ClusteringParams) -> tuple[np.ndarray, np.ndarray]:
    k = min(params.neighbours, len(z) - 1)
    if len(z) <= params.exact_search_below:
        return exact_neighbours(z, k, params.block_rows)
    return index_neighbours(z, k, params)


def condensed_tree(
    neighbours: np.ndarray, distances: np.ndarray, min_samples: int, min_cluster_size: int
) -> np.ndarray:
    """HDBSCAN's condensed tree over the neighbour graph (mutual reachability, minimum spanning forest).

    Parts of the graph that are not connected join at twice the largest distance, above everything.
    """
    n, k = neighbours.shape
    d = np.maximum(distances.astype(np.float64), 1e-12)  # the spanning-tree code reads 0 as "no edge"
    core = d[:, min(min_samples, k) - 1]
    rows = np.repeat(np.arange(n), k)
    cols = neighbours.ravel()
    reachability = np.maximum(d.ravel(), np.maximum(core[rows], core[cols]))
    forest = minimum_spanning_tree(coo_matrix((reachability, (rows, cols)), shape=(n, n)).tocsr()).tocoo()
    edges = np.column_stack([forest.row, forest.col, forest.data]).astype(np.float64)
    parts, part = connected_components(forest, directed=False)
    if parts > 1:
        first = np.unique(part, return_index=True)[1]
        top = 2.0 * edges[:, 2].max() if len(edges) else 1.0
        edges = np.vstack([edges, np.column_stack([np.full(parts - 1, first[0]), first[1:], np.full(parts - 1, top)])])
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0], edges[:, 2]))]
    return condense_tree(single_linkage_tree(edges), min_cluster_size)


def relative_excess_of_mass(tree: np.ndarray, n: int) -> np.ndarray:
    """Per node of the condensed tree (indexed by node id; NaN for segments and the root): the mean over
    its segments of ``lambda_leave / lambda_birth - 1`` (lambda = 1 / distance), i.e. HDBSCAN's
    stability divided by size and birth density, a ratio that no distance scale changes."""
    parent = tree["parent"].astype(np.int64)
    child = tree["child"].astype(np.int64)
    lam = tree["lambda_val"].astype(np.float64)
    size = tree["child_size"].astype(np.float64)
    nodes = int(max(parent.max(initial=n), child.max(initial=n))) + 1
    is_node = child >= n
    birth = np.zeros(nodes)
    birth[child[is_node]] = lam[is_node]
    node_size = np.zeros(nodes)
    node_size[child[is_node]] = size[is_node]
    stability = np.bincount(parent, weights=size * (lam - birth[parent]), minlength=nodes)
    rem = np.full(nodes, np.nan)
    inner = np.flatnonzero((np.arange(nodes) > n) & (birth > 0))
    rem[inner] = stability[inner] / (node_size[inner] * birth[inner])
    return rem


def null_threshold(coordinates: np.ndarray, params: ClusteringParams) -> float:
    """The largest relative excess of mass in the hierarchies of ``null_draws`` null ticks: each
    coordinate shuffled independently across (a seeded sample of at most ``null_rows``) rows, which
    keeps the tick's spread along every principal direction and destroys any topic. Several draws,
    so that a tick without topics rarely has a leaf above all of them. 0 when no null node exists."""
    rng = np.random.default_rng(params.seed + 1)
    rows = np.arange(len(coordinates))
    if len(rows) > params.null_rows:
        rows = np.sort(rng.choice(len(rows), params.null_rows, replace=False))
    k = min(params.neighbours, len(rows) - 1)
    best = 0.0
    for _ in range(params.null_draws):
        null = np.empty((len(rows), coordinates.shape[1]), dtype=np.float32)
        for j in range(coordinates.shape[1]):
            null[:, j] = coordinates[rows[rng.permutation(len(rows))], j]
        z = normalize(null)
        tree = condensed_tree(*exact_neighbours(z, k, params.block_rows), params.min_samples, params.min_cluster_size)
        rem = relative_excess_of_mass(tree, len(z))
        best = max(best, float(np.nanmax(rem)) if np.isfinite(rem).any() else 0.0)
    return best


def significant_leaves(tree: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """Label per segment: the leaf of the condensed tree it belongs to, for leaves above ``threshold``; else -1.

    Leaves, not larger nodes: a node above two leaves holds two problems however dense it is.
    """
    rem = relative_excess_of_mass(tree, n)
    parent = tree["parent"].astype(np.int64)
    child = tree["child"].astype(np.int64)
    is_node = child >= n
    leaf = np.zeros(len(rem), dtype=bool)
    leaf[child[is_node]] = True
    leaf[parent[is_node]] = False
    chosen = np.flatnonzero(leaf & (np.nan_to_num(rem, nan=-np.inf) > threshold))
    node_label = np.full(len(rem), -1, dtype=np.int64)
    node_label[chosen] = np.arange(len(chosen))
    # A segment that leaves its leaf about as soon as the leaf forms was only swept in with it:
    # it is a member when it stays as much longer than the leaf's birth as a significant node does.
    birth = np.zeros(len(rem))
    birth[child[is_node]] = tree["lambda_val"][is_node]
    point = ~is_node
    stays = tree["lambda_val"][point] > (1.0 + max(threshold, 0.0)) * birth[parent[point]]
    labels = np.full(n, -1, dtype=np.int64)
    labels[child[point]] = np.where(stays, node_label[parent[point]], -1)
    return labels


def background_spread(z: np.ndarray, seed: int, pairs: int = 20000) -> float:
    """Standard deviation of the cosine between two random segments of the tick (seeded sample of pairs)."""
    rng = np.random.default_rng(seed + 2)
    a, b = rng.integers(0, len(z), (2, pairs))
    keep = a != b
    return float(np.std(np.einsum("ij,ij->i", z[a[keep]], z[b[keep]])))


def extend_by_membership(labels: np.ndarray, z: np.ndarray, min_ratio: float, floor: float) -> np.ndarray:
    """Each segment left out joins the cluster it would pass as a member of: its mean cosine to the
    cluster's segments reaches ``min_ratio`` of the mean cosine between two of them (the rule tasks
    are matched by, see ``replay_assets.matching``). Only clusters whose segments are more alike
    than ``floor`` take members, so a cluster that chance made gathers no more."""
    labels = labels.copy()
    clusters = int(labels.max()) + 1
    if clusters == 0:
        return labels
    members = labels >= 0
    sums = np.zeros((clusters, z.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[members], z[members])
    size = np.bincount(labels[members], minlength=clusters)
    with np.errstate(divide="ignore", invalid="ignore"):  # a leaf may have lost every segment: never eligible
        within = ((sums**2).sum(axis=1) - size) / (size * (size - 1.0))
    eligible = (size > 1) & (within > floor)
    scale = np.where(eligible, size * np.where(eligible, within, 1.0), 1.0)
    open_rows = np.flatnonzero(~members)
    best = np.full(len(open_rows), -1)
    score = np.full(len(open_rows), -np.inf)
    for start in range(0, len(open_rows), 4096):  # blocks of (segments x clusters) ratios
        rows = open_rows[start : start + 4096]
        ratio = (z[rows] @ sums.T.astype(np.float32)) / scale
        ratio[:, ~eligible] = -np.inf
        best[start : start + len(rows)] = ratio.argmax(axis=1)
        score[start : start + len(rows)] = ratio.max(axis=1)
    joins = score >= min_ratio
    labels[open_rows[joins]] = best[joins]
    return labels


def cluster_embeddings(
    embeddings: np.ndarray, params: ClusteringParams | None = None, context: np.ndarray | None = None
) -> np.ndarray:
    """Cluster label per row (-1 = noise), deterministic for the same rows in the same order.

    ``context``: other rows (e.g. the previous tick's) clustered with these, so that their density
    counts; only the labels of ``embeddings`` are returned.
    """
    params = params or ClusteringParams()
    x = np.asarray(embeddings, dtype=np.float32)
    extra = 0 if context is None else len(context)
    if len(x) + extra <= max(params.min_cluster_size, params.min_samples):
        return np.full(len(x), -1, dtype=np.int64)
    coordinates = principal_coordinates(x, params, None if context is None else np.asarray(context, dtype=np.float32))
    z = normalize(coordinates)
    tree = condensed_tree(*neighbour_graph(z, params), params.min_samples, params.min_cluster_size)
    labels = significant_leaves(tree, len(z), null_threshold(coordinates, params))
    labels = extend_by_membership(labels, z, params.min_ratio, params.floor_spreads * background_spread(z, params.seed))
    return first_member_order(labels[extra:])


def first_member_order(labels: np.ndarray) -> np.ndarray:
    """The same clusters, numbered 0.. by the position of their first member (stable ids)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    members = np.flatnonzero(labels >= 0)
    if len(members):
        _, first, inverse = np.unique(labels[members], return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        out[members] = rank[inverse]
    return out


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Unit-length mean of each cluster's normalized members."""
    x = normalize(embeddings)
    return {int(c): normalize(x[labels == c].mean(axis=0, keepdims=True))[0] for c in np.unique(labels[labels >= 0])}
