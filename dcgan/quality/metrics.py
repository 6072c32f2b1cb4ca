"""Sample-quality metrics computed from feature vectors (pure NumPy, float64).

The features come from any fixed network (see `dcgan.evaluate`); these functions only compare
two sets of vectors, one row per image:

- `frechet_distance`: FID when the features are Inception pool features.
- `kernel_distance`: KID, an unbiased estimate that is usable with few samples.
- `classifier_score`: the Inception Score recipe applied to any classifier's logits.
- `precision_recall`: how much of the fakes looks real, and how much of the real data is
  covered by the fakes (Kynkaanniemi et al., 2019).
- `relative_spread`: how varied the fakes are next to the real images (1: as varied, 0: copies).
"""

import numpy as np

# The neighbour whose distance sets each ball's radius in `precision_recall`.
PRECISION_RECALL_K = 3


def _as_features(x, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples, features), got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}"
        )


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix.

    Rounding makes the smallest eigenvalues of a singular covariance slightly negative;
    clipping them to zero keeps the root real instead of producing NaNs.
    """
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * roots) @ eigenvectors.T


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr sqrt(cov_a cov_b) without a general (non-symmetric) matrix square root.

    cov_a cov_b is similar to sqrt(cov_a) cov_b sqrt(cov_a), which is symmetric PSD, so both
    have the same non-negative eigenvalues and the trace of the root is the sum of their roots.
    """
    root_a = _sqrtm_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))


def _trace_sqrt_product_of_rows(a: np.ndarray, b: np.ndarray) -> float:
    """Tr sqrt(C_a C_b) of the unbiased covariances of the rows of a and b, from the rows.

    With centred rows A, B, C_a C_b = A^T (A B^T B) / s has the non-zero eigenvalues of
    (A B^T)(A B^T)^T / s, s = (N_a - 1)(N_b - 1): the trace of the root is the sum of the
    singular values of the N_a x N_b matrix A B^T over sqrt(s). With fewer rows than
    dimensions (a class's few samples in 2048 Inception features) that is far cheaper than
    two D x D eigendecompositions.
    """
    centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
    singular_values = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False)
    return float(singular_values.sum() / np.sqrt((len(a) - 1) * (len(b) - 1)))


def _total_variance(x: np.ndarray) -> float:
    """Tr of the unbiased covariance of the rows: the sum of the features' variances.

    Taken about the first row, which changes no variance: copies of one row then give exactly
    0 rather than the rounding of their mean.
    """
    return float((x - x[0]).var(axis=0, ddof=1).sum())


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    d^2 = ||mu_a - mu_b||^2 + Tr(C_a) + Tr(C_b) - 2 Tr sqrt(C_a C_b), with unbiased
    covariances. Well defined for singular covariances (fewer samples than dimensions).

    Args:
        feats_a: (N_a, D) features, N_a >= 2.
        feats_b: (N_b, D) features, N_b >= 2.

    Returns:
        A float >= 0; exactly 0 (up to rounding) for identical sets.
    """
    a = _as_features(feats_a, "feats_a")
    b = _as_features(feats_b, "feats_b")
    _check_same_dim(a, b)
    mean_diff = a.mean(axis=0) - b.mean(axis=0)
    if max(len(a), len(b)) < a.shape[1]:
        trace_a, trace_b = _total_variance(a), _total_variance(b)
        trace_root = _trace_sqrt_product_of_rows(a, b)
    else:
        cov_a = np.atleast_2d(np.cov(a, rowvar=False))
        cov_b = np.atleast_2d(np.cov(b, rowvar=False))
        trace_a, trace_b = np.trace(cov_a), np.trace(cov_b)
        trace_root = _trace_sqrt_product(cov_a, cov_b)
    distance = mean_diff @ mean_diff + trace_a + trace_b - 2.0 * trace_root
    # Rounding can leave a tiny negative value when the two sets (nearly) coincide.
    return float(max(distance, 0.0))


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(u, v) = (u.v / d + 1)^3."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    # Leaving out the diagonal (a sample compared with itself) is what makes it unbiased.
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kernel_distance(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """Kernel distance (KID): unbiased MMD^2 averaged over random subsets.

    Each subset draws `subset_size` rows of each set without replacement (capped at the
    smaller set). The estimate is unbiased, so it is near zero, and may be slightly negative,
    when both sets come from the same distribution.

    Args:
        feats_a: (N_a, D) features, N_a >= 2.
        feats_b: (N_b, D) features, N_b >= 2.
        num_subsets: number of subsets averaged.
        subset_size: rows drawn from each set per subset.
        seed: seed of the subset draws; the result is a pure function of the inputs and seed.

    Returns:
        (mean, standard error of the mean over subsets). The error reflects only the subset
        draws from these two samples (0 when every subset is the whole set), not the sampling
        of the feature sets themselves.
    """
    a = _as_features(feats_a, "feats_a")
    b = _as_features(feats_b, "feats_b")
    _check_same_dim(a, b)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be at least 1, got {num_subsets}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"subset_size must be at least 2, got {subset_size}")
    if size == len(a) == len(b):
        # Every subset is the whole of both sets, in another order: the same value each time,
        # so it is computed once, and its spread is 0 (not the 1e-17 that rounding would give).
        return _unbiased_mmd2(a, b), 0.0
    rng = np.random.default_rng(seed)
    values = np.array([
        _unbiased_mmd2(a[rng.choice(len(a), size, replace=False)],
                       b[rng.choice(len(b), size, replace=False)])
        for _ in range(num_subsets)
    ])
    if num_subsets == 1:
        return float(values[0]), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(num_subsets))


def classifier_score(logits) -> float:
    """exp(E_x KL(p(y|x) || p(y))) from classifier logits (the Inception Score recipe).

    High when each image is classified confidently and all classes are used equally.

    Args:
        logits: (N, K) unnormalised class scores.

    Returns:
        A float in [1, K]: 1 when every image gets the same prediction, K for confident
        predictions spread evenly over K classes.
    """
    logits = _as_features(logits, "logits", min_rows=1)
    # log-softmax by subtracting the row maximum first: exp never overflows.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    marginal = p.mean(axis=0)
    with np.errstate(divide="ignore"):
        log_marginal = np.log(marginal)
    # Where p(y|x) underflowed to 0 the term is 0 (p log p -> 0), even if p(y) is 0 too.
    terms = np.where(p > 0, p * (log_p - log_marginal), 0.0)
    score = np.exp(terms.sum(axis=1).mean())
    return float(np.clip(score, 1.0, logits.shape[1]))


def _squared_distances(x: np.ndarray, y: np.ndarray, y_sq_norms: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(axis=1)[:, None] + y_sq_norms[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0)


def _knn_radii_sq(x: np.ndarray, k: int, batch_size: int) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row."""
    sq_norms = (x * x).sum(axis=1)
    radii = np.empty(len(x))
    for start in range(0, len(x), batch_size):
        d2 = _squared_distances(x[start:start + batch_size], x, sq_norms)
        rows = np.arange(len(d2))
        d2[rows, start + rows] = np.inf  # a point is not its own neighbour
        radii[start:start + len(d2)] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return radii


def _fraction_covered(points: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray,
                      batch_size: int) -> float:
    """Fraction of points inside at least one ball around a centre."""
    sq_norms = (centres * centres).sum(axis=1)
    inside = 0
    for start in range(0, len(points), batch_size):
        d2 = _squared_distances(points[start:start + batch_size], centres, sq_norms)
        inside += int(np.count_nonzero((d2 <= radii_sq[None, :]).any(axis=1)))
    return inside / len(points)


def precision_recall(real_feats, fake_feats, k: int = PRECISION_RECALL_K,
                     batch_size: int = 256) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour in the same set. Precision is the fraction of fakes inside
    the real manifold (do samples look real?); recall the fraction of real points inside the
    fake manifold (is the data's variety covered?). Mode collapse shows as low recall.

    Args:
        real_feats: (N_r, D) features of real images, N_r > k.
        fake_feats: (N_f, D) features of generated images, N_f > k.
        k: neighbour that sets each ball's radius.
        batch_size: rows of the distance matrix held at once; memory is about
            8 * batch_size * max(N_r, N_f) bytes.

    Returns:
        (precision, recall), each in [0, 1].
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    real = _as_features(real_feats, "real_feats", min_rows=k + 1)
    fake = _as_features(fake_feats, "fake_feats", min_rows=k + 1)
    _check_same_dim(real, fake)
    real_radii = _knn_radii_sq(real, k, batch_size)
    fake_radii = _knn_radii_sq(fake, k, batch_size)
    precision = _fraction_covered(fake, real, real_radii, batch_size)
    recall = _fraction_covered(real, fake, fake_radii, batch_size)
    return precision, recall


def relative_spread(real_feats, fake_feats) -> float:
    """How varied the fakes are, as a fraction of how varied the real images are.

    Tr(C_fake) / Tr(C_real): the summed variance of the fake features over that of the real
    ones. 1 for fakes as spread out as the real images, 0 for copies of one image; above 1
    for fakes more scattered than the data (noise, or several classes mixed). Nothing is
    capped: a class whose samples are all alike shows as a number near 0, whatever its
    precision.

    Args:
        real_feats: (N_r, D) features of real images, N_r >= 2, not all rows equal.
        fake_feats: (N_f, D) features of generated images, N_f >= 2.

    Returns:
        A float >= 0.

    Raises:
        ValueError: bad shapes, or real rows that are all equal (the ratio has no meaning).
    """
    real = _as_features(real_feats, "real_feats")
    fake = _as_features(fake_feats, "fake_feats")
    _check_same_dim(real, fake)
    if not np.any(real != real[0]):
        raise ValueError("real_feats has every row equal: there is no spread to compare with")
    return _total_variance(fake) / _total_variance(real)
