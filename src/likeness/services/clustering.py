"""Clustering of unknown faces: which unnamed faces look like one person.

Average-linkage agglomeration on a k-nearest-neighbour graph:

1. Each face starts as a cluster of its own. Candidate links join each face to its
   `neighbours` most similar faces (exact, by blockwise dot products) that score at least
   `link_floor`: no merge ever needs less, and a mean at least that high needs one pair
   at least that high.
2. Two clusters score the (quality-weighted) mean similarity over every pair of their
   faces. For unit embeddings that is the dot product of the clusters' mean vectors: one
   dot product whatever the sizes, and a sum vector per cluster is all the state that
   incremental assignment needs. A mean does not chain: one look-alike or one blurred face
   that resembles two people cannot join their clusters, as it does in single-linkage
   methods (DBSCAN, Immich's clustering).
3. The score a merge needs falls as clusters grow, since a mean over more faces is less
   noisy: ``link_floor + (link - link_floor) * sqrt((1/a + 1/b) / 2)`` for clusters of a
   and b faces. Two single faces need `link`, buffalo_s's 1:1 verify threshold; a face
   joins a 10-face cluster at 0.27, two 10-face clusters merge at 0.23. On the development
   set, different people's clusters scored at most 0.17 (10 and 9 faces), a stranger's face
   against a cluster 0.19.
4. Merges run in rounds: each cluster picks the neighbouring cluster whose score clears
   the needed one by most; pairs that pick each other merge (reciprocal nearest neighbours,
   as in exact agglomerative clustering), and the clusters that picked one of such a pair
   join it in the same round if their mean similarity to the rest of it clears the needed
   score too, so that a person with thousands of faces takes a few rounds, not thousands.
5. Clusters of fewer than `min_size` faces, or whose faces weigh less than `min_weight`
   together, are left unclustered (label -1).

Quality (`face_weight`, in (0, 1]): a small, blurred or turned face has a noisy embedding,
and such faces resemble one another more than sharp ones do (99.9th percentile of
strangers' similarity on the development set: 0.34 between faces shrunk to 20-36 px and
blurred, 0.23 between the originals), so a cluster of poor faces alone is not trusted,
and a poor face pulls its cluster's mean less.

`assign` places new faces incrementally: existing clusters enter as single nodes (their
sums and weights), new faces link to the clusters' means and to each other, and the same
agglomeration runs, never merging two existing clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from likeness.engine.face_engine import Quality

# Rows of embeddings per dot-product block: 2048 x 16384 similarities is 128 MiB.
ROW_BLOCK = 2048
COLUMN_BLOCK = 16384
# Pairs whose scores are computed at once (two gathers of 64 MiB for 512-d embeddings).
PAIR_BLOCK = 32768
# Candidate links held before they are cut to each face's best `neighbours` again.
EDGE_BUDGET = 4_000_000


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """Defaults for buffalo_s, measured on the CelebA development set (bench/cluster.py):
    BCubed F1 0.972 at precision 1.000; F1 0.967-0.977 for link 0.28-0.32 and link_floor
    0.15-0.22; precision stays 1.000 down to link 0.25 with link_floor 0.18, and falls
    under 0.98 once link_floor reaches 0.12 (different people's clusters merge)."""

    link: float = 0.30  # mean similarity two single faces need: buffalo_s's verify
    link_floor: float = 0.20  # what large clusters need; strangers' scored up to 0.17
    neighbours: int = 10  # candidate links per face; 5 or 20 cluster the dev set alike
    min_size: int = 3  # smaller clusters are left unclustered (Immich's minimum too)
    min_weight: float = 1.0  # so are clusters weighing less: poor faces only

    def needed(self, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
        """The mean similarity clusters of these sizes need to merge."""
        spread = np.sqrt((1 / size_a + 1 / size_b) / 2)
        return self.link_floor + (self.link - self.link_floor) * spread


@dataclass(frozen=True, slots=True)
class Clusters:
    """What incremental assignment needs of a clustering: per cluster, the weighted sum
    of its faces' embeddings, the sum of their weights, and how many faces it has."""

    sums: np.ndarray  # (m, d) float32
    weights: np.ndarray  # (m,) float32
    sizes: np.ndarray  # (m,) int64

    @classmethod
    def from_labels(cls, embeddings: np.ndarray, labels: np.ndarray,
                    weights: np.ndarray | None = None) -> Clusters:
        """The clusters of a labelling (-1: unclustered), numbered as labelled."""
        embeddings = np.asarray(embeddings, np.float32)
        weights = _weights(weights, len(embeddings))
        count = int(labels.max(initial=-1)) + 1
        members = np.flatnonzero(labels >= 0)
        members = members[np.argsort(labels[members], kind="stable")]
        sorted_labels = labels[members]
        sums = np.zeros((count, embeddings.shape[1]), np.float32)
        present, starts = np.unique(sorted_labels, return_index=True)
        if len(members):
            sums[present] = np.add.reduceat(embeddings[members] * weights[members, None],
                                            starts, axis=0)
        return cls(sums, np.bincount(sorted_labels, weights[members], count).astype(np.float32),
                   np.bincount(sorted_labels, minlength=count).astype(np.int64))

    def __len__(self) -> int:
        return len(self.sizes)

    def means(self) -> np.ndarray:
        """Weighted mean embeddings, not unit length: a face's similarity to a mean is its
        mean similarity to the cluster's faces."""
        return self.sums / np.maximum(self.weights, 1e-12)[:, None]


def face_weight(quality: Quality, det_score: float) -> float:
    """A face's weight in (0, 1]: the product of how big (full from 48 px), sharp (full
    from a Laplacian variance of 50, quality.py's "visibly blurred"), frontal (cosine of
    yaw and pitch) and confidently detected (full from 0.8) it is; at least 0.05."""
    size = min(1.0, quality.face_size / 48)
    sharpness = min(1.0, quality.blur / 50)
    pose = max(0.0, math.cos(math.radians(quality.yaw)) * math.cos(math.radians(quality.pitch)))
    detection = min(1.0, det_score / 0.8)
    return max(0.05, size * sharpness * pose * detection)


def cluster(embeddings: np.ndarray, quality: np.ndarray | None = None,
            params: ClusterParams | None = None,
            links: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Labels of unit-length `embeddings` (n, d): 0..m-1 by cluster, -1 unclustered.
    `quality`: each face's weight in (0, 1] (`face_weight`); None weighs every face 1.
    `links`: candidate pairs (first, second) found elsewhere (a vector index), instead of
    `neighbour_links`."""
    params = params or ClusterParams()
    embeddings = np.asarray(embeddings, np.float32)
    weights = _weights(quality, len(embeddings))
    first, second = links or neighbour_links(embeddings, params.neighbours,
                                             params.link_floor)[:2]
    sizes = np.ones(len(embeddings), np.int64)
    totals = weights.copy()
    roots = _agglomerate(embeddings * weights[:, None], totals, sizes, first, second, params,
                         fixed=0)
    return _number(roots, sizes, totals, params, fixed=0)


def assign(embeddings: np.ndarray, clusters: Clusters, quality: np.ndarray | None = None,
           params: ClusterParams | None = None) -> np.ndarray:
    """Labels of new faces given an existing clustering: an existing cluster's number,
    len(clusters) onwards for clusters formed among the new faces, or -1. Faces left
    unclustered before may be passed again among the new ones to give them another chance.
    Existing clusters never merge with each other here."""
    params = params or ClusterParams()
    embeddings = np.asarray(embeddings, np.float32)
    weights = _weights(quality, len(embeddings))
    existing = len(clusters)
    first, second, _ = neighbour_links(embeddings, params.neighbours, params.link_floor)
    near_cluster, near_face = _nearest_clusters(embeddings, clusters.means(), params)
    sums = np.concatenate([clusters.sums, embeddings * weights[:, None]])
    node_weights = np.concatenate([clusters.weights, weights])
    sizes = np.concatenate([clusters.sizes, np.ones(len(embeddings), np.int64)])
    roots = _agglomerate(sums, node_weights, sizes,
                         np.concatenate([near_cluster, first + existing]),
                         np.concatenate([near_face + existing, second + existing]),
                         params, fixed=existing)
    return _number(roots, sizes, node_weights, params, fixed=existing)[existing:]


def neighbour_links(embeddings: np.ndarray, k: int,
                    floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected links (first, second, similarity; first < second) from each face to its
    k most similar faces scoring at least `floor`, by exact blockwise dot products over the
    upper triangle. Each strip of rows is cut to the links among the k best of its faces
    and of its columns' faces within it, which is safe (more candidates only demote a
    link), and keeps the many pairs of a person with thousands of photos from piling up."""
    count = len(embeddings)
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held_count = 0
    for row in range(0, count, ROW_BLOCK):
        rows = embeddings[row:row + ROW_BLOCK]
        strip = []
        for column in range(row, count, COLUMN_BLOCK):
            block = rows @ embeddings[column:column + COLUMN_BLOCK].T
            i, j = np.nonzero(block >= floor)
            above = i + row < j + column
            i, j = i[above], j[above]
            strip.append((i + row, j + column, block[i, j]))
        held.append(_top_links(*_joined(strip), k))
        held_count += len(held[-1][0])
        if held_count > EDGE_BUDGET:
            held = [_top_links(*_joined(held), k)]
            held_count = len(held[0][0])
    return _top_links(*_joined(held), k)


def immich_style(embeddings: np.ndarray, max_distance: float = 0.5,
                 min_faces: int = 3) -> np.ndarray:
    """The baseline: DBSCAN as Immich clusters faces. A core face has at least `min_faces`
    faces, itself included, within cosine distance `max_distance`; cores within that
    distance of each other share a cluster; any other face within it of a core joins the
    cluster of its most similar core; the rest are -1."""
    embeddings = np.asarray(embeddings, np.float32)
    count = len(embeddings)
    first, second, scores = neighbour_links(embeddings, count, 1 - max_distance)
    core = np.bincount(np.concatenate([first, second]), minlength=count) + 1 >= min_faces
    roots = np.arange(count)
    both = core[first] & core[second]
    while True:  # connected components of the cores: propagate the lowest index
        low = np.minimum(roots[first[both]], roots[second[both]])
        spread = roots.copy()
        np.minimum.at(spread, first[both], low)
        np.minimum.at(spread, second[both], low)
        spread = spread[spread]
        if np.array_equal(spread, roots):
            break
        roots = spread
    border = np.concatenate([first, second]), np.concatenate([second, first])
    to_core = ~core[border[0]] & core[border[1]]
    faces, cores = border[0][to_core], border[1][to_core]
    order = np.lexsort((-np.concatenate([scores, scores])[to_core], faces))
    faces, cores = faces[order], cores[order]
    head = np.ones(len(faces), bool)
    head[1:] = faces[1:] != faces[:-1]
    roots[faces[head]] = roots[cores[head]]
    clustered = core.copy()
    clustered[faces[head]] = True
    labels = np.full(count, -1)
    _, labels[clustered] = np.unique(roots[clustered], return_inverse=True)
    return labels


def bcubed(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """BCubed (precision, recall, F1) of a clustering against true identities; a predicted
    label of -1 makes that face a cluster of its own. Per face: precision is the share of
    its cluster that is its identity, recall the share of its identity in its cluster."""
    truth = np.asarray(truth)
    predicted = np.asarray(predicted).copy()
    noise = predicted < 0
    predicted[noise] = predicted.max(initial=0) + 1 + np.arange(int(noise.sum()))
    _, true_ids = np.unique(truth, return_inverse=True)
    _, found_ids = np.unique(predicted, return_inverse=True)
    pair = true_ids * (found_ids.max() + 1) + found_ids
    _, pair_ids, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    shared = pair_counts[pair_ids]
    precision = float(np.mean(shared / np.bincount(found_ids)[found_ids]))
    recall = float(np.mean(shared / np.bincount(true_ids)[true_ids]))
    return precision, recall, 2 * precision * recall / (precision + recall)


def _weights(quality: np.ndarray | None, count: int) -> np.ndarray:
    if quality is None:
        return np.ones(count, np.float32)
    weights = np.asarray(quality, np.float32)
    if weights.shape != (count,) or not np.all((weights > 0) & (weights <= 1)):
        raise ValueError("quality must hold one weight in (0, 1] per face")
    return weights


def _joined(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    first, second, scores = zip(*parts, strict=True)
    return np.concatenate(first), np.concatenate(second), np.concatenate(scores)


def _top_links(first: np.ndarray, second: np.ndarray, scores: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The links among the k best of either of their faces."""
    ends = np.concatenate([first, second]).astype(np.uint64)
    # One sort by face, then by falling score: 2 - score lies in [1, 3], where a float32's
    # bits order as its value does; 4x faster than np.lexsort on millions of links.
    falling = (2 - np.concatenate([scores, scores])).astype(np.float32).view(np.uint32)
    order = np.argsort(ends << np.uint64(32) | falling.astype(np.uint64))
    position = np.arange(len(order))
    head = np.ones(len(order), bool)
    head[1:] = ends[order][1:] != ends[order][:-1]
    rank = position - np.maximum.accumulate(np.where(head, position, 0))
    keep_directed = np.zeros(len(order), bool)
    keep_directed[order] = rank < k
    keep = keep_directed[:len(first)] | keep_directed[len(first):]
    return first[keep], second[keep], scores[keep]


def _nearest_clusters(embeddings: np.ndarray, means: np.ndarray,
                      params: ClusterParams) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, face) links from each face to its `neighbours` best-scoring clusters."""
    clusters, faces = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    k = min(params.neighbours, len(means))
    for row in range(0, len(embeddings) if k else 0, ROW_BLOCK):
        block = embeddings[row:row + ROW_BLOCK] @ means.T
        best = np.argpartition(-block, k - 1, axis=1)[:, :k]
        face = np.repeat(np.arange(len(block)), k)
        good = block[face, best.ravel()] >= params.link_floor
        clusters.append(best.ravel()[good])
        faces.append(face[good] + row)
    return np.concatenate(clusters), np.concatenate(faces)


def _agglomerate(sums: np.ndarray, weights: np.ndarray, sizes: np.ndarray,
                 first: np.ndarray, second: np.ndarray, params: ClusterParams,
                 fixed: int) -> np.ndarray:
    """Each node's cluster root after merging along the links. Nodes below `fixed` are
    existing clusters, which must not merge with each other. `sums`, `weights` and `sizes`
    are updated in place: a root's entries become its cluster's."""
    count = len(weights)
    parent = np.arange(count)
    pairs = np.zeros((0, 2), np.int64)
    pair_scores = np.zeros(0, np.float32)
    changed = np.ones(count, bool)
    links = np.stack([first, second], axis=1).astype(np.int64)
    while True:
        pairs, pair_scores = _rescore(sums, weights, np.concatenate([pairs, links]),
                                      np.concatenate([pair_scores, np.zeros(len(links),
                                                                           np.float32)]),
                                      changed[np.concatenate([pairs, links])].any(axis=1),
                                      fixed)
        links = links[:0]
        margin = pair_scores - params.needed(sizes[pairs[:, 0]], sizes[pairs[:, 1]])
        target, followers = _targets(pairs[margin >= 0], margin[margin >= 0], count, fixed)
        groups = _Groups(sums, weights, sizes, target)
        short = groups.short(followers, params)
        if len(short):
            target[short] = -1
            groups = _Groups(sums, weights, sizes, target)
        if not len(groups.keepers):
            return parent
        sums[groups.keepers] = groups.sums
        weights[groups.keepers] = groups.weights
        sizes[groups.keepers] = groups.sizes
        parent[target >= 0] = target[target >= 0]
        parent = parent[parent]
        pairs = parent[pairs]
        changed[:] = False
        changed[groups.keepers] = True


def _targets(pairs: np.ndarray, margin: np.ndarray, count: int,
             fixed: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each node goes this round (-1: nowhere), and which nodes follow. Every node
    picks the partner it clears the needed score with by most; pairs that pick each other
    merge into the lower index (reciprocal nearest neighbours), and the nodes that picked
    one of such a pair follow into it, so that a large cluster can take in many faces in a
    round. Existing clusters never follow (they could join another existing one)."""
    ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
    others = np.concatenate([pairs[:, 1], pairs[:, 0]])
    # Ties go to the lower index, so the best pair overall always picks each other.
    order = np.lexsort((others, -np.concatenate([margin, margin]), ends))
    ends, others = ends[order], others[order]
    head = np.ones(len(ends), bool)
    head[1:] = ends[1:] != ends[:-1]
    best = np.full(count + 1, -1)  # best[-1] stays -1: where picking nobody leads
    best[ends[head]] = others[head]
    nodes = np.arange(count)
    picked = best[:count]
    mutual = best[picked] == nodes
    target = np.where(mutual, np.minimum(nodes, picked), -1)
    followers = np.flatnonzero((picked >= 0) & ~mutual & (nodes >= fixed))
    followers = followers[mutual[picked[followers]]]
    target[followers] = target[picked[followers]]
    return target, followers


class _Groups:
    """The clusters a round's targets would make: their keepers (the nodes that are their
    own target) with the groups' sums, weights and sizes."""

    def __init__(self, sums: np.ndarray, weights: np.ndarray, sizes: np.ndarray,
                 target: np.ndarray) -> None:
        self.target = target
        self.keepers = np.flatnonzero(target == np.arange(len(target)))
        members = np.flatnonzero(target >= 0)
        members = members[np.argsort(target[members], kind="stable")]
        starts = np.searchsorted(target[members], self.keepers)
        self.sums = _sum_runs(sums[members], starts)
        self.weights = _sum_runs(weights[members], starts)
        self.sizes = _sum_runs(sizes[members], starts)
        self._nodes = sums, weights, sizes

    def short(self, followers: np.ndarray, params: ClusterParams) -> np.ndarray:
        """The followers whose mean similarity to the rest of their group falls short of
        the needed score: they were checked against one node of it only."""
        sums, weights, sizes = self._nodes
        shorts = [followers[:0]]
        for start in range(0, len(followers), PAIR_BLOCK):
            node = followers[start:start + PAIR_BLOCK]
            group = np.searchsorted(self.keepers, self.target[node])
            rest = self.sums[group] - sums[node]
            score = np.einsum("ij,ij->i", sums[node], rest) / (
                weights[node] * (self.weights[group] - weights[node]))
            needed = params.needed(sizes[node], self.sizes[group] - sizes[node])
            shorts.append(node[score < needed])
        return np.concatenate(shorts)


def _sum_runs(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of the runs of `values` that begin at `starts`."""
    return np.add.reduceat(values, starts, axis=0) if len(starts) else values[:0]


def _rescore(sums: np.ndarray, weights: np.ndarray, pairs: np.ndarray, scores: np.ndarray,
             stale: np.ndarray, fixed: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct cluster pairs (smaller root first) with their mean similarities,
    recomputed where `stale`; pairs within one cluster or of two fixed nodes dropped."""
    pairs = np.sort(pairs, axis=1)
    live = (pairs[:, 0] != pairs[:, 1]) & (pairs[:, 1] >= fixed)
    fresh, kept = pairs[live & ~stale], scores[live & ~stale]
    redo = np.unique(pairs[live & stale], axis=0)
    redone = np.empty(len(redo), np.float32)
    inverse = 1 / np.maximum(weights, 1e-12)
    for start in range(0, len(redo), PAIR_BLOCK):
        a, b = redo[start:start + PAIR_BLOCK].T
        redone[start:start + PAIR_BLOCK] = np.einsum("ij,ij->i", sums[a], sums[b]) \
            * inverse[a] * inverse[b]
    return np.concatenate([fresh, redo]), np.concatenate([kept, redone])


def _number(roots: np.ndarray, sizes: np.ndarray, weights: np.ndarray, params: ClusterParams,
            fixed: int) -> np.ndarray:
    """Labels from roots (`sizes`, `weights`: faces and their weight by root): existing
    clusters (roots below `fixed`) keep their numbers; new ones big and heavy enough are
    numbered from `fixed` on; the rest are -1."""
    labels = np.where(roots < fixed, roots, -1)
    new = (roots >= fixed) & (sizes[roots] >= params.min_size) \
        & (weights[roots] >= params.min_weight)
    _, numbered = np.unique(roots[new], return_inverse=True)
    labels[new] = fixed + numbered
    return labels
