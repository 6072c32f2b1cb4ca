"""Each metric checked against a computation that does not share its code path."""

import itertools
import math

import numpy as np
import pytest

from dcgan.quality import metrics


def _with_moments(rng, num, mean, cov):
    """Samples whose sample mean and unbiased sample covariance are exactly `mean` and `cov`."""
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    z = rng.normal(size=(num, len(mean)))
    z -= z.mean(axis=0)
    # Whiten the sample exactly, then colour it with a factor of the target covariance.
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return z @ np.linalg.cholesky(cov).T + mean


def test_frechet_diagonal_gaussians_match_closed_form():
    rng = np.random.default_rng(0)
    mean_a, mean_b = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
    a = _with_moments(rng, 500, mean_a, np.diag(var_a))
    b = _with_moments(rng, 700, mean_b, np.diag(var_b))
    # Commuting (diagonal) covariances: the matrix root is the elementwise root.
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_many_random_samples_approach_population_value():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal([2.0, 0.0, 0.0], [1.0, 2.0, 1.0], size=(20000, 3))
    # ||mu_a - mu_b||^2 = 4, plus (1 - 2)^2 from the second axis.
    assert metrics.frechet_distance(a, b) == pytest.approx(5.0, abs=0.15)


def test_frechet_non_commuting_covariances_match_2x2_closed_form():
    rng = np.random.default_rng(2)
    cov_a = np.array([[2.0, 0.8], [0.8, 1.0]])
    cov_b = np.array([[0.5, -0.3], [-0.3, 3.0]])
    mean_a, mean_b = np.array([0.0, 0.0]), np.array([1.0, -2.0])
    a = _with_moments(rng, 300, mean_a, cov_a)
    b = _with_moments(rng, 400, mean_b, cov_b)
    # For a 2x2 matrix with non-negative eigenvalues: Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
    product = cov_a @ cov_b
    trace_root = math.sqrt(np.trace(product) + 2.0 * math.sqrt(np.linalg.det(product)))
    expected = (
        np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    )
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_is_zero_for_identical_sets_and_symmetric():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 8))
    b = rng.normal(loc=0.3, size=(60, 8)) * 1.5
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert metrics.frechet_distance(a, b) > 0.5
    assert metrics.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(b, a),
                                                           rel=1e-9)


def test_frechet_singular_covariances_fewer_samples_than_dims():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 10))
    b = rng.normal(size=(5, 10)) + 0.5
    distance = metrics.frechet_distance(a, b)
    assert np.isfinite(distance) and distance > 0.0
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_rank_deficient_embedding_keeps_low_dim_value():
    """Data on a 2-D plane inside 10-D space (rank-2 covariances) gives the 2-D distance."""
    rng = np.random.default_rng(5)
    a2 = _with_moments(rng, 40, [0.0, 1.0], [[1.0, 0.3], [0.3, 0.5]])
    b2 = _with_moments(rng, 30, [2.0, 0.0], [[0.2, 0.0], [0.0, 2.0]])
    rotation, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    embed = rotation[:, :2].T  # (2, 10) orthonormal rows: distances are preserved
    expected = metrics.frechet_distance(a2, b2)
    assert metrics.frechet_distance(a2 @ embed, b2 @ embed) == pytest.approx(expected, rel=1e-7)


def test_frechet_with_fewer_rows_than_dims_matches_the_covariance_formula():
    """Fewer samples than features (a class's samples in Inception features) take the path
    through the rows; it must give the formula's value computed from the covariances."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(12, 40)) @ rng.normal(size=(40, 40)) / 6
    b = rng.normal(loc=0.2, size=(9, 40)) * 1.3
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # The eigenvalues of C_a C_b (real and >= 0 up to rounding) straight from NumPy.
    eigenvalues = np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0.0, None)
    expected = (np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2) + np.trace(cov_a)
                + np.trace(cov_b) - 2.0 * np.sum(np.sqrt(eigenvalues)))
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at least 2 rows"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dimension"):
        metrics.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(np.full((4, 3), np.nan), np.zeros((4, 3)))


def _direct_mmd2(x, y):
    """Unbiased MMD^2 written out pair by pair."""
    dim = x.shape[1]

    def kernel(u, v):
        return (float(np.dot(u, v)) / dim + 1.0) ** 3

    m = len(x)
    pairs = [(i, j) for i, j in itertools.product(range(m), repeat=2) if i != j]
    within_x = sum(kernel(x[i], x[j]) for i, j in pairs) / len(pairs)
    within_y = sum(kernel(y[i], y[j]) for i, j in pairs) / len(pairs)
    across = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return within_x + within_y - 2.0 * across


def test_kernel_distance_matches_pairwise_formula_when_subset_is_whole_set():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(7, 3))
    b = rng.normal(loc=0.5, size=(7, 3))
    mean, stderr = metrics.kernel_distance(a, b, num_subsets=4, subset_size=100)
    # The unbiased estimate does not depend on row order, so all subsets agree exactly.
    assert mean == pytest.approx(_direct_mmd2(a, b), rel=1e-10)
    assert stderr == 0.0


def test_kernel_distance_of_whole_sets_has_no_rounding_spread():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(200, 128)), rng.normal(loc=0.1, size=(200, 128))
    mean, stderr = metrics.kernel_distance(a, b)  # subsets of 1000: the whole 200 each time
    assert stderr == 0.0  # shown as 0, not as 8.6e-17 of rounding
    assert mean == pytest.approx(metrics.kernel_distance(a[::-1], b[::-1])[0], rel=1e-12)


def test_kernel_distance_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(1000, 16))
    b = rng.normal(size=(1000, 16))
    mean, stderr = metrics.kernel_distance(a, b, num_subsets=50, subset_size=200)
    assert stderr > 0.0
    assert abs(mean) < 3.0 * stderr

    shifted_mean, shifted_stderr = metrics.kernel_distance(a, b + 0.5, num_subsets=50,
                                                           subset_size=200)
    assert shifted_mean > 10.0 * shifted_stderr
    assert shifted_mean > 10.0 * abs(mean)


def test_kernel_distance_is_reproducible_from_its_seed():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(80, 4))
    first = metrics.kernel_distance(a, b, num_subsets=5, subset_size=20, seed=3)
    assert metrics.kernel_distance(a, b, num_subsets=5, subset_size=20, seed=3) == first
    assert metrics.kernel_distance(a, b, num_subsets=5, subset_size=20, seed=4) != first


def test_classifier_score_is_one_for_constant_predictions():
    logits = np.tile([2.0, -1.0, 0.5, 3.0], (20, 1))
    assert metrics.classifier_score(logits) == pytest.approx(1.0, abs=1e-12)


def test_classifier_score_is_k_for_confident_evenly_used_classes():
    num_classes = 5
    labels = np.arange(40) % num_classes
    logits = 60.0 * np.eye(num_classes)[labels]
    assert metrics.classifier_score(logits) == pytest.approx(num_classes, rel=1e-9)
    # Huge logits must not overflow into NaN.
    assert metrics.classifier_score(1e4 * np.eye(num_classes)[labels]) == pytest.approx(
        num_classes, rel=1e-9)


def test_classifier_score_matches_direct_formula():
    rng = np.random.default_rng(9)
    logits = rng.normal(scale=2.0, size=(30, 6))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    marginal = probs.mean(axis=0)
    kl = [sum(p[y] * math.log(p[y] / marginal[y]) for y in range(6)) for p in probs]
    expected = math.exp(sum(kl) / len(kl))
    score = metrics.classifier_score(logits)
    assert score == pytest.approx(expected, rel=1e-9)
    assert 1.0 < score < 6.0


def test_precision_recall_identical_sets():
    rng = np.random.default_rng(10)
    real = rng.normal(size=(40, 5))
    assert metrics.precision_recall(real, real.copy(), k=3) == (1.0, 1.0)


def test_precision_recall_far_away_fakes():
    rng = np.random.default_rng(11)
    real = rng.normal(size=(40, 5))
    fake = rng.normal(size=(40, 5)) + 100.0
    assert metrics.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_mode_collapse_is_precise_but_low_recall():
    rng = np.random.default_rng(12)
    real = rng.normal(size=(50, 4))
    fake = np.repeat(real[:1], 20, axis=0)  # every sample is the same real image
    precision, recall = metrics.precision_recall(real, fake, k=3)
    assert precision == 1.0
    assert recall <= 1 / 50


def test_precision_recall_hand_computed_on_a_line():
    real = np.arange(10, dtype=np.float64)[:, None]  # 1-NN radius of every real point is 1
    fake = np.array([0.5, 0.7, 4.5, 4.2, 30.0, 31.0])[:, None]
    # Fakes inside a real ball: 0.5, 0.7, 4.5, 4.2 -> 4 of 6.
    # Fake 1-NN radii: 0.2, 0.2, 0.3, 0.3, 1, 1; only real point 4 (0.2 from 4.2) is covered.
    for batch_size in (1, 4, 256):  # the row batching must not change the answer
        precision, recall = metrics.precision_recall(real, fake, k=1, batch_size=batch_size)
        assert precision == pytest.approx(4 / 6)
        assert recall == pytest.approx(1 / 10)


def test_precision_recall_batching_does_not_change_result():
    rng = np.random.default_rng(13)
    real = rng.normal(size=(37, 3))
    fake = rng.normal(loc=0.7, size=(29, 3))
    expected = metrics.precision_recall(real, fake, k=3, batch_size=1000)
    assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0
    assert metrics.precision_recall(real, fake, k=3, batch_size=5) == expected


def test_precision_recall_needs_more_points_than_k():
    with pytest.raises(ValueError, match="at least 4 rows"):
        metrics.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


def test_relative_spread_is_one_for_the_same_spread_and_zero_for_copies():
    rng = np.random.default_rng(14)
    real = rng.normal(size=(30, 4))
    assert metrics.relative_spread(real, real[::-1] + 5.0) == pytest.approx(1.0)
    assert metrics.relative_spread(real, np.repeat(real[:1], 10, axis=0)) == 0.0


def test_relative_spread_is_the_ratio_of_summed_variances_uncapped():
    rng = np.random.default_rng(15)
    real = rng.normal(size=(50, 3))
    fake = rng.normal(size=(40, 3)) * [1.0, 2.0, 3.0]
    expected = sum(np.var(fake[:, j], ddof=1) for j in range(3)) / \
        sum(np.var(real[:, j], ddof=1) for j in range(3))
    assert metrics.relative_spread(real, fake) == pytest.approx(expected, rel=1e-12)
    # Twice the scale is four times the variance: nothing is capped at 1.
    assert metrics.relative_spread(real, 2.0 * real) == pytest.approx(4.0)


def test_relative_spread_refuses_real_rows_all_equal():
    with pytest.raises(ValueError, match="every row equal"):
        metrics.relative_spread(np.ones((5, 3)), np.zeros((5, 3)) + np.arange(5)[:, None])
    with pytest.raises(ValueError, match="at least 2 rows"):
        metrics.relative_spread(np.zeros((4, 3)) + np.arange(4)[:, None], np.zeros((1, 3)))
