"""Clustering quality on planted data: no clusters from noise, planted topics recovered, seeded."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from replay_assets.clustering import ClusteringParams, centroids, cluster_embeddings


def planted(n: int, topics: int, dim: int = 768, noise_fraction: float = 0.1, spread: float = 0.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((topics, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    n_noise = int(n * noise_fraction)
    truth = np.concatenate([rng.integers(0, topics, n - n_noise), -np.ones(n_noise, dtype=int)])
    x = np.where(truth[:, None] >= 0, centers[np.maximum(truth, 0)], 0) + np.where(
        truth[:, None] >= 0, spread / np.sqrt(dim), 1.0
    ) * rng.standard_normal((n, dim)).astype(np.float32)
    return x.astype(np.float32), truth


@pytest.mark.parametrize("dim", [384, 768])
def test_random_vectors_make_no_clusters(dim):
    x = np.random.default_rng(1).standard_normal((3000, dim)).astype(np.float32)
    labels = cluster_embeddings(x)
    assert np.mean(labels >= 0) <= 0.01


def test_random_vectors_around_a_shared_direction_make_no_clusters():
    """Descriptions of one product share a direction: that alone is no topic."""
    rng = np.random.default_rng(2)
    shared = rng.standard_normal(384)
    x = (0.8 * shared / np.linalg.norm(shared) + 0.6 * rng.standard_normal((3000, 384)) / np.sqrt(384)).astype(
        np.float32
    )
    assert np.mean(cluster_embeddings(x) >= 0) <= 0.01


def test_planted_topics_are_recovered_and_noise_stays_noise():
    x, truth = planted(3000, topics=40)
    labels = cluster_embeddings(x)
    topic = truth >= 0
    clustered = topic & (labels >= 0)
    assert adjusted_rand_score(truth[clustered], labels[clustered]) >= 0.9
    assert np.mean(labels[~topic] == -1) >= 0.9
    assert np.mean(labels[topic] >= 0) >= 0.9
    assert len(set(labels[labels >= 0])) == 40, "distinct topics are never merged"


def test_same_rows_same_labels():
    x, _ = planted(1500, topics=20, seed=3)
    assert np.array_equal(cluster_embeddings(x), cluster_embeddings(x.copy()))


def test_small_inputs_are_all_noise_and_centroids_are_unit_length():
    assert cluster_embeddings(np.ones((2, 8), dtype=np.float32)).tolist() == [-1, -1]
    x, _ = planted(600, topics=5, noise_fraction=0.0)
    labels = cluster_embeddings(x, ClusteringParams(min_cluster_size=5))
    for c in centroids(x, labels).values():
        assert np.linalg.norm(c) == pytest.approx(1.0, abs=1e-5)


def test_large_ticks_use_the_index_and_stay_deterministic():
    x, truth = planted(6000, topics=60, dim=512, seed=5)
    params = ClusteringParams(exact_search_below=5000)
    labels = cluster_embeddings(x, params)
    clustered = (truth >= 0) & (labels >= 0)
    assert adjusted_rand_score(truth[clustered], labels[clustered]) >= 0.9
    assert np.mean(labels[truth >= 0] >= 0) >= 0.9 and np.mean(labels[truth < 0] == -1) >= 0.9
    assert np.array_equal(labels, cluster_embeddings(x, params))
