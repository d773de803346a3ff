"""Cluster segment description embeddings by density, without inventing clusters from noise (pure).

Every decision is taken relative to the window's own geometry, so an embedding model that maps
the same descriptions into another space (another dimension, a direction every description
shares, another similarity scale) gives the same clusters as long as it keeps which descriptions
are near which:

1. Principal coordinates: the unit rows are centred and projected on their leading principal
   directions, computed exactly from the Gram matrix of a seeded sample. Centring removes the
   direction every description of a product shares; an isometry of the embedding space leaves
   the Gram matrix, hence the coordinates, unchanged. Rows are re-normalized: distances are
   cosine distances between what differs.
2. A k-nearest-neighbour graph (exact blocked products for small windows, an HNSW index built
   single-threaded in row order, hence deterministic, for large ones).
3. HDBSCAN's hierarchy on that graph: each segment's core distance is the distance to its
   ``min_samples``-th neighbour, edges are weighted by mutual reachability, the minimum spanning
   forest gives the single-linkage tree, condensed at ``min_cluster_size`` (hdbscan's own tree
   code). ``min_cluster_size`` 8 and ``min_samples`` 5 are the sizes of the fixed HDBSCAN that
   the tasks are measured against, counted as hdbscan counts them.
4. Significance against null windows: every node of the hierarchy gets its relative excess of mass
   (how much longer its segments stay together than the distance it formed at, as a ratio, so
   free of the distance scale). The same hierarchy is built on null windows, the principal
   coordinates shuffled independently (seeded): same spread per direction, no topics.
5. Clusters are the lowest significant nodes of the hierarchy: a node that beats every node of
   the null windows and has no significant node below it, at whatever scale that is. A segment
   that left the hierarchy above a cluster, close to where the cluster formed, belongs to it
   when that cluster is the only one below where it left.
6. Doubt: a segment waits for a later window when another cluster explains it as well as its
   own (its mean cosine to each), when chance does (it is no more alike to its cluster than two
   spreads above two segments no cluster holds together), or when the leading directions explain
   far less of it than of the window's typical segment (a stray or broken description). When in
   doubt, leave it out.

Cluster ids are ordered by each cluster's first segment; the same rows in the same order give
the same labels (the pipeline orders a window's rows canonically before clustering).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from hdbscan._hdbscan_linkage import label as single_linkage_tree
from hdbscan._hdbscan_tree import condense_tree
from pydantic import BaseModel, Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.sparse.linalg import eigsh


class ClusteringParams(BaseModel):
    min_cluster_size: int = Field(
        8, description="Fewest segments a cluster has: a problem seen this often in the window recurs."
    )
    min_samples: int = Field(
        5,
        description="Density scale: a segment's core distance is to the min_samples-th segment "
        "nearest it, itself counted (as hdbscan counts).",
    )
    neighbours: int = Field(15, description="Neighbours per segment in the graph the hierarchy is built on.")
    dimensions: int = Field(
        50,
        description="Principal directions kept: where topics separate; the rest is mostly phrasing "
        "variation every topic shares.",
    )
    pca_sample: int = Field(3000, description="Rows (a seeded sample) the principal directions are computed from.")
    block_rows: int = 4096
    exact_search_below: int = Field(5000, description="Up to this many segments, neighbours are searched exactly.")
    null_rows: int = Field(5000, description="Rows of a null window (a seeded sample of the window's, shuffled).")
    null_draws: int = Field(3, description="Null windows drawn; a node must beat every node of all of them.")
    index_links: int = Field(16, description="HNSW links per node (M).")
    index_build_effort: int = Field(40, description="HNSW ef_construction: candidates kept while building.")
    seed: int = 0


@dataclass
class Clustering:
    labels: np.ndarray  # cluster per row, -1 = left out
    coordinates: np.ndarray  # unit principal coordinates per row (zero for a row at the centre)
    doubted: np.ndarray  # rows a cluster held that were left out in doubt (they wait; no task of their own yet)


def normalize(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def inverse_norms(embeddings: np.ndarray) -> np.ndarray:
    """``1 / |row|`` per row (1 for a zero row), float32: rows are scaled on the fly, never copied normalized."""
    norms = np.sqrt(np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64))
    return (1.0 / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def principal_coordinates(x: np.ndarray, params: ClusteringParams) -> tuple[np.ndarray, np.ndarray]:
    """The unit rows of ``x``, centred and projected on their leading ``dimensions`` principal
    directions (float32, not normalized).

    The directions come from the eigenvectors of the Gram matrix of a seeded sample of centred
    unit rows (Lanczos from a fixed start vector, to machine precision): a function of the rows'
    mutual cosines only, so any isometry of the embedding space, into any dimension, gives the
    same coordinates (up to each direction's sign, which no distance sees). The projection is
    applied block by block to the raw rows, each product scaled by its row's inverse norm.
    """
    n = len(x)
    rng = np.random.default_rng(params.seed)
    sample = np.arange(n) if n <= params.pca_sample else np.sort(rng.choice(n, params.pca_sample, replace=False))
    rows = x[sample] * inverse_norms(x[sample])[:, None]
    mean = rows.mean(axis=0, dtype=np.float64).astype(np.float32)
    rows -= mean
    gram = (rows @ rows.T).astype(np.float64)
    k = min(params.dimensions, len(sample) - 1)
    if k < 1:
        return np.zeros((n, 1), dtype=np.float32), np.zeros(n, dtype=np.float32)
    if len(sample) <= 3 * k:
        values, vectors = np.linalg.eigh(gram)
    else:
        values, vectors = eigsh(gram, k=k, which="LA", v0=np.ones(len(sample)), tol=0)
    order = np.argsort(-values, kind="stable")[:k]
    values, vectors = values[order], vectors[:, order]
    kept = values > max(values[0], 0.0) * 1e-9
    if not kept.any():  # every sampled row is the same description: no direction to tell rows apart
        return np.zeros((n, 1), dtype=np.float32), np.zeros(n, dtype=np.float32)
    basis = (rows.T.astype(np.float64) @ (vectors[:, kept] / np.sqrt(values[kept]))).astype(np.float32)
    shift = mean @ basis
    out = np.empty((n, basis.shape[1]), dtype=np.float32)
    centred = np.empty(n, dtype=np.float32)
    for start in range(0, n, params.block_rows):
        block = x[start : start + params.block_rows]
        inverse = inverse_norms(block)
        out[start : start + len(block)] = (block @ basis) * inverse[:, None] - shift
        # |unit row - mean|^2 = 1 - 2 unit.mean + |mean|^2: each row's whole centred length.
        centred[start : start + len(block)] = np.sqrt(np.maximum(1.0 - 2.0 * (block @ mean) * inverse + mean @ mean, 0))
    return out, centred


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
    core = d[:, min(max(min_samples - 1, 1), k) - 1]  # the segment itself is the first of its min_samples
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


@dataclass
class Hierarchy:
    """The condensed tree's nodes, indexed by node id (``n`` is the root; ids below ``n`` are segments)."""

    n: int
    parent_of: np.ndarray  # parent node per node (-1 for the root and for segments)
    birth: np.ndarray  # lambda (1 / distance) at which each node formed (0 for the root)
    size: np.ndarray  # segments in each node
    rem: np.ndarray  # relative excess of mass per node (NaN for segments and the root)
    left_from: np.ndarray  # per segment: the node it left the hierarchy from
    left_at: np.ndarray  # per segment: the lambda at which it left

    @classmethod
    def of(cls, tree: np.ndarray, n: int) -> Hierarchy:
        parent = tree["parent"].astype(np.int64)
        child = tree["child"].astype(np.int64)
        lam = tree["lambda_val"].astype(np.float64)
        count = tree["child_size"].astype(np.float64)
        nodes = int(max(parent.max(initial=n), child.max(initial=n))) + 1
        is_node = child >= n
        parent_of = np.full(nodes, -1, dtype=np.int64)
        parent_of[child[is_node]] = parent[is_node]
        birth = np.zeros(nodes)
        birth[child[is_node]] = lam[is_node]
        size = np.zeros(nodes)
        size[child[is_node]] = count[is_node]
        size[n] = n
        # HDBSCAN's stability divided by size and birth density: free of the distance scale.
        stability = np.bincount(parent, weights=count * (lam - birth[parent]), minlength=nodes)
        rem = np.full(nodes, np.nan)
        inner = np.flatnonzero((np.arange(nodes) > n) & (birth > 0))
        rem[inner] = stability[inner] / (size[inner] * birth[inner])
        left_from = np.full(n, n, dtype=np.int64)
        left_from[child[~is_node]] = parent[~is_node]
        left_at = np.zeros(n)
        left_at[child[~is_node]] = lam[~is_node]
        return cls(n, parent_of, birth, size, rem, left_from, left_at)

    def lowest(self, chosen: np.ndarray) -> np.ndarray:
        """The nodes of ``chosen`` (a boolean per node) with no chosen node below them."""
        below = np.zeros(len(chosen), dtype=bool)
        for node in range(len(chosen) - 1, self.n, -1):  # a child's id is larger than its parent's
            if chosen[node] or below[node]:
                below[self.parent_of[node]] = True
        return np.flatnonzero(chosen & ~below)


def null_threshold(coordinates: np.ndarray, params: ClusteringParams) -> float:
    """The largest relative excess of mass in the hierarchies of ``null_draws`` null windows: each
    coordinate shuffled independently across (a seeded sample of at most ``null_rows``) rows, which
    keeps the window's spread along every principal direction and destroys any topic. Several
    draws, so that a window without topics rarely has a node above all of them. 0 when no null
    node exists."""
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
        rem = Hierarchy.of(tree, len(z)).rem
        best = max(best, float(np.nanmax(rem)) if np.isfinite(rem).any() else 0.0)
    return best


def significant_clusters(hierarchy: Hierarchy, threshold: float) -> np.ndarray:
    """Label per segment: the lowest node above ``threshold`` it belongs to, else -1.

    A segment belongs to a cluster when it left the hierarchy from the cluster's node or a node
    below it, or from a node above it (not the root) that holds no other cluster, at a distance
    no longer than the cluster's own birth distance stretched by the significance ratio: where
    the hierarchy offers a segment a single cluster close by, it takes it; where it offers
    several, or only a far one, it is in doubt and left out.
    """
    h = hierarchy
    chosen = h.lowest(np.nan_to_num(h.rem, nan=-np.inf) > threshold)
    nodes = len(h.parent_of)
    cluster_of = np.full(nodes, -1, dtype=np.int64)
    cluster_of[chosen] = np.arange(len(chosen))
    clusters_below = np.zeros(nodes, dtype=np.int64)
    clusters_below[chosen] = 1
    only = cluster_of.copy()  # the cluster below a node, when it holds exactly one
    for node in range(nodes - 1, h.n, -1):  # children before parents
        parent = h.parent_of[node]
        if cluster_of[parent] < 0 and clusters_below[node]:
            clusters_below[parent] += clusters_below[node]
            only[parent] = only[node]
    for node in range(h.n + 1, nodes):  # parents before children: a chosen node's whole subtree is its own
        parent = h.parent_of[node]
        if cluster_of[node] < 0 and parent >= 0 and cluster_of[parent] >= 0:
            cluster_of[node] = cluster_of[parent]
    single = (clusters_below == 1) & (np.arange(nodes) != h.n)
    above = np.where(single[h.left_from], only[h.left_from], -1)
    close = (
        h.left_at * (1.0 + max(threshold, 0.0)) >= h.birth[chosen[np.maximum(above, 0)]] if len(chosen) else above < 0
    )
    return np.where(cluster_of[h.left_from] >= 0, cluster_of[h.left_from], np.where(close, above, -1))


def apart_cosines(z: np.ndarray, labels: np.ndarray, seed: int, pairs: int = 20000) -> tuple[float, float]:
    """Mean and standard deviation of the cosine between two segments that no cluster holds
    together (a seeded sample of pairs): how alike two segments of different problems are by chance."""
    rng = np.random.default_rng(seed + 2)
    a, b = rng.integers(0, len(z), (2, pairs))
    apart = (a != b) & ((labels[a] != labels[b]) | (labels[a] < 0))
    cosines = np.einsum("ij,ij->i", z[a[apart]], z[b[apart]], dtype=np.float64)
    return float(cosines.mean()), float(cosines.std())


def doubtful_members(labels: np.ndarray, z: np.ndarray, neighbours: np.ndarray, seed: int = 0) -> np.ndarray:
    """Leave out each segment in doubt, which waits for a later window: one whose mean cosine to
    the other segments of its cluster is below its mean cosine to another cluster (another
    problem explains it as well), or no more than two spreads above the mean cosine of two
    segments no cluster holds together (chance explains it as well). The other clusters a segment is
    compared with are those of its graph neighbours, the only ones close enough to compete. A
    cluster left with fewer than two segments is dissolved."""
    out = labels.copy()
    k = int(labels.max(initial=-1)) + 1
    members = np.flatnonzero(labels >= 0)
    if k == 0:
        return out
    sums = np.zeros((k, z.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[members], z[members])
    size = np.bincount(labels[members], minlength=k).astype(np.float64)
    own = labels[members]
    self_term = np.einsum("ij,ij->i", z[members], z[members], dtype=np.float64)
    to_own = (np.einsum("ij,ij->i", z[members], sums[own]) - self_term) / np.maximum(size[own] - 1, 1)
    rivals = labels[neighbours[members]]  # the clusters of each member's neighbours
    rivals = np.where((rivals >= 0) & (rivals != own[:, None]), rivals, -1)
    to_rival = np.full(len(members), -np.inf)
    for j in range(rivals.shape[1]):
        has = rivals[:, j] >= 0
        c = rivals[has, j]
        to_rival[has] = np.maximum(to_rival[has], np.einsum("ij,ij->i", z[members[has]], sums[c]) / size[c])
    mean, spread = apart_cosines(z, labels, seed)
    out[members[(to_own < to_rival) | (to_own <= mean + 2.0 * spread)]] = -1
    kept = np.bincount(out[out >= 0], minlength=k)
    out[(out >= 0) & (kept[np.maximum(out, 0)] < 2)] = -1
    return out


def cluster_embeddings(embeddings: np.ndarray, params: ClusteringParams | None = None) -> Clustering:
    """Cluster label per row (-1 = left out) and the rows' unit principal coordinates,
    deterministic for the same rows in the same order."""
    params = params or ClusteringParams()
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) <= max(params.min_cluster_size, params.min_samples) + 1:
        return Clustering(
            np.full(len(x), -1, dtype=np.int64), np.zeros((len(x), 1), dtype=np.float32), np.zeros(len(x), dtype=bool)
        )
    coordinates, centred = principal_coordinates(x, params)
    if not coordinates.any():  # no direction tells the rows apart: the window repeats descriptions
        labels = repeated_descriptions(x, params.min_cluster_size)
        return Clustering(labels, coordinates, np.zeros(len(x), dtype=bool))
    z = normalize(coordinates)
    neighbours, distances = neighbour_graph(z, params)
    tree = condensed_tree(neighbours, distances, params.min_samples, params.min_cluster_size)
    labels = significant_clusters(Hierarchy.of(tree, len(z)), null_threshold(coordinates, params))
    labels[strays(coordinates, centred)] = -1
    kept = doubtful_members(labels, z, neighbours, params.seed)
    return Clustering(first_member_order(kept), z, (labels >= 0) & (kept < 0))


def repeated_descriptions(x: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """Clusters of rows with the same embedding (the same description repeated), when at least
    ``min_cluster_size`` repeat it; where nothing else varies, only a repeat tells a problem."""
    rows = np.ascontiguousarray(normalize(x))
    _, first, group = np.unique(
        rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel(),
        return_index=True,
        return_inverse=True,
    )
    labels = np.where(np.bincount(group)[group] >= min_cluster_size, group, -1)
    return first_member_order(labels)


def strays(coordinates: np.ndarray, centred_lengths: np.ndarray) -> np.ndarray:
    """Rows the leading directions explain far less than the window's typical row (the share of
    each row's centred length they hold, more than three robust spreads below its median): they
    lie mostly outside the directions the window's topics live in."""
    explained = np.linalg.norm(coordinates, axis=1) / np.maximum(centred_lengths, 1e-12)
    median = np.median(explained)
    return explained < median - 3.0 * 1.4826 * np.median(np.abs(explained - median))


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
