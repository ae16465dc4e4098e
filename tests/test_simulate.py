"""Properties of mlml.simulate.hide_positives, and the seed's hidden labels checked against the same rule."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlml.exceptions import DataError, MLMLError
from mlml.simulate import SCHEMES, hide_positives, keep_known_labels, rarity_ratios

#: The schemes that hide positives (``"partial"`` makes labels unannotated instead; tested on its own below).
MISSING_SCHEMES = tuple(s for s in SCHEMES if s != "partial")

label_matrices = st.tuples(st.integers(1, 12), st.integers(1, 9)).flatmap(
    lambda shape: arrays(np.int8, shape, elements=st.sampled_from([-1, 0, 1, 1]))
)
ratios = st.floats(0.0, 1.0, allow_nan=False)
seeds = st.integers(0, 2**32 - 1)
PROPERTY = settings(max_examples=60, deadline=None)


def _kwargs(scheme: str, labels: np.ndarray, ratio: float) -> dict:
    if scheme in ("per-sample", "uniform", "partial"):
        return {"ratio": ratio}
    if scheme == "per-class":
        return {"class_ratios": np.full(labels.shape[1], ratio)}
    return {}


@PROPERTY
@given(labels=label_matrices, ratio=ratios, seed=seeds)
def test_per_sample_hides_exactly_round_half_even(labels, ratio, seed):
    observed, hidden = hide_positives(labels, ratio, random_state=seed)
    n_pos = (labels == 1).sum(axis=1)
    expected = np.array([round(ratio * n) for n in n_pos])  # Python's round() is half-to-even
    np.testing.assert_array_equal(hidden.sum(axis=1), expected)
    np.testing.assert_array_equal((observed == 1).sum(axis=1), n_pos - expected)


@PROPERTY
@given(labels=label_matrices, ratio=ratios, seed=seeds, scheme=st.sampled_from(MISSING_SCHEMES), keep=st.booleans())
def test_only_positives_are_hidden_and_the_rest_is_untouched(labels, ratio, seed, scheme, keep):
    observed, hidden = hide_positives(
        labels, scheme=scheme, keep_at_least_one=keep, random_state=seed, **_kwargs(scheme, labels, ratio)
    )
    assert hidden.dtype == bool and observed.dtype == np.int8
    assert np.all(labels[hidden] == 1)
    np.testing.assert_array_equal(observed[hidden], 0)
    np.testing.assert_array_equal(observed[~hidden], labels[~hidden])
    np.testing.assert_array_equal(observed == -1, labels == -1)
    if keep or scheme == "single-positive":
        had = (labels == 1).any(axis=1)
        assert np.all((observed == 1).any(axis=1)[had])


@PROPERTY
@given(labels=label_matrices, ratio=ratios, seed=seeds, scheme=st.sampled_from(SCHEMES))
def test_deterministic_and_dense_equals_csr(labels, ratio, seed, scheme):
    kwargs = _kwargs(scheme, labels, ratio)
    first = hide_positives(labels, scheme=scheme, random_state=seed, **kwargs)
    again = hide_positives(labels, scheme=scheme, random_state=np.random.default_rng(seed), **kwargs)
    sparse = hide_positives(sp.csr_matrix(labels), scheme=scheme, random_state=seed, **kwargs)
    for dense_part, other, sparse_part in zip(first, again, sparse):
        np.testing.assert_array_equal(dense_part, other)
        assert sp.issparse(sparse_part)
        np.testing.assert_array_equal(dense_part, sparse_part.toarray())


@PROPERTY
@given(labels=label_matrices, ratio=ratios, seed=seeds)
def test_keep_at_least_one_caps_the_per_sample_count(labels, ratio, seed):
    _, hidden = hide_positives(labels, ratio, keep_at_least_one=True, random_state=seed)
    n_pos = (labels == 1).sum(axis=1)
    expected = np.minimum([round(ratio * n) for n in n_pos], np.maximum(n_pos - 1, 0))
    np.testing.assert_array_equal(hidden.sum(axis=1), expected)


def test_schemes_hide_at_the_expected_rates():
    labels = (np.random.default_rng(0).random((4000, 10)) < 0.4).astype(np.int8)
    _, hidden = hide_positives(labels, 0.3, scheme="uniform", random_state=1)
    assert hidden.sum() / (labels == 1).sum() == pytest.approx(0.3, abs=0.01)
    _, hidden = hide_positives(labels, scheme="single-positive", random_state=1)
    np.testing.assert_array_equal((labels == 1).sum(axis=1) - hidden.sum(axis=1), (labels == 1).any(axis=1))
    class_ratios = np.linspace(0, 1, 10)
    _, hidden = hide_positives(labels, scheme="per-class", class_ratios=class_ratios, random_state=1)
    np.testing.assert_allclose(hidden.sum(axis=0) / (labels == 1).sum(axis=0), class_ratios, atol=0.04)
    skewed = labels.copy()
    skewed[200:, 1] = 0  # class 1 becomes rare
    rarer = rarity_ratios(skewed, 0.5)
    assert rarer[1] > 0.5 and rarer[0] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ratio": 1.5}, "'ratio' parameter of hide_positives must be a float in \\[0, 1\\]. Got 1.5"),
        ({"ratio": -0.1}, "Got -0.1"),
        ({"ratio": None}, "'ratio' parameter of hide_positives is required"),
        ({"ratio": 0.5, "scheme": "sideways"}, "'scheme' parameter .* Got 'sideways'"),
        ({"ratio": 0.5, "scheme": "single-positive"}, "not used by scheme 'single-positive'"),
        ({"scheme": "per-class"}, "'class_ratios' parameter of hide_positives is required"),
        ({"scheme": "per-class", "class_ratios": np.full(3, 2.0)}, "'class_ratios' parameter"),
        ({"ratio": 0.5, "class_ratios": np.full(4, 0.5)}, "only used by scheme 'per-class'"),
        ({"scheme": "partial"}, "'ratio' parameter of hide_positives \\(the known proportion\\) is required"),
        ({"ratio": 1.5, "scheme": "partial"}, "'ratio' parameter of hide_positives must be a float in"),
        ({"ratio": 0.5, "scheme": "partial", "keep_at_least_one": True}, "takes neither"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(MLMLError, match=match):
        hide_positives(np.eye(4, dtype=np.int8), **kwargs)


# ----------------------------------------------------------------------------------------------------
# partial labels (Durand et al. 2019; issue 14)

partial_inputs = st.tuples(st.integers(1, 12), st.integers(1, 9)).flatmap(
    lambda shape: arrays(np.int8, shape, elements=st.sampled_from([-1, 0, 1, 1, 2]))
)


@PROPERTY
@given(labels=partial_inputs, known=ratios, seed=seeds)
def test_partial_keeps_or_drops_every_entry_and_never_invents_a_suspect_zero(labels, known, seed):
    observed, hidden = hide_positives(labels, known, scheme="partial", random_state=seed)
    assert observed.dtype == np.int8 and hidden.dtype == bool
    kept = observed != -1
    np.testing.assert_array_equal(observed[kept & (labels == 1)], 1)
    np.testing.assert_array_equal(observed[kept & (labels == 0)], 2)  # a kept negative is a verified one
    np.testing.assert_array_equal(observed[kept & (labels == 2)], 2)
    assert not np.any(observed == 0)
    assert not np.any(kept & (labels == -1))  # an unannotated entry stays unannotated
    np.testing.assert_array_equal(hidden, (labels == 1) & ~kept)  # the hidden mask: positives made unannotated


def test_partial_keeps_the_known_proportion_of_positives_and_negatives_alike():
    labels = (np.random.default_rng(0).random((3000, 20)) < 0.2).astype(np.int8)
    for known in (0.1, 0.5, 0.9):
        observed, _ = hide_positives(labels, known, scheme="partial", random_state=3)
        for value in (0, 1):
            share = np.mean(observed[labels == value] != -1)
            assert share == pytest.approx(known, abs=0.01), (known, value, share)
        per_sample = (observed != -1).mean(axis=1)
        assert per_sample.std() > 0.01  # entries are drawn independently: the per-sample proportion varies
    observed, hidden = hide_positives(labels, 1.0, scheme="partial", random_state=3)
    np.testing.assert_array_equal(observed, np.where(labels == 1, 1, 2))
    assert not hidden.any()
    observed, hidden = hide_positives(labels, 0.0, scheme="partial", random_state=3)
    assert np.all(observed == -1) and np.array_equal(hidden, labels == 1)


def test_partial_csr_is_drawn_in_row_chunks_with_the_same_stream(monkeypatch):
    import mlml.simulate as simulate

    labels = (np.random.default_rng(1).random((50, 7)) < 0.3).astype(np.int8)
    dense = keep_known_labels(labels, 0.4, random_state=9)
    monkeypatch.setattr(simulate, "_PARTIAL_CHUNK_ENTRIES", 20)  # 2 rows per chunk
    sparse = keep_known_labels(sp.csr_matrix(labels), 0.4, random_state=9)
    assert sp.issparse(sparse[0]) and sparse[0].nnz == labels.size  # every entry is stored: none is a 0
    np.testing.assert_array_equal(sparse[0].toarray(), dense[0])
    np.testing.assert_array_equal(sparse[1].toarray(), dense[1])


# ----------------------------------------------------------------------------------------------------
# the seed's hidden labels (../shared/data/coco2017-seed-folds)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_seed_hidden_entries_follow_the_per_sample_rule_and_ours_do_too(coco_dir, ratio):
    from mlml.data.seedfolds import load_seed_split

    for split in (1, 2, 3, 4):
        seed = load_seed_split(coco_dir, split, ratio)
        complete = seed.train_labels
        n_pos = complete.sum(axis=1)
        rule = np.round(ratio * n_pos).astype(np.int64)  # numpy rounds half to even
        np.testing.assert_array_equal(seed.hidden.sum(axis=1), rule)
        assert np.all(complete[seed.hidden] == 1)
        np.testing.assert_array_equal(seed.observed, np.where(seed.hidden, 0, complete))
        assert len(np.intersect1d(seed.train_index, seed.test_index)) == 0
        assert len(seed.train_index) + len(seed.test_index) == len(seed.ids)
    observed, hidden = hide_positives(complete, ratio, random_state=0)
    np.testing.assert_array_equal(hidden.sum(axis=1), rule)
    np.testing.assert_array_equal(observed, np.where(hidden, 0, complete))
    # the same rule, different draws: the two hide the same amount of each class only on average
    assert abs(hidden.sum(axis=0) - seed.hidden.sum(axis=0)).max() < 0.1 * seed.hidden.sum(axis=0).max()


def test_seed_split_shapes_and_errors(coco_dir):
    from mlml.data.seedfolds import load_seed_split

    split = load_seed_split(coco_dir, 1, 0.5)
    assert split.observed.shape == (len(split.train_index), 80) and split.hidden.dtype == bool
    assert split.observed.dtype == np.int8 and split.labels.shape == (33052, 80)
    assert split.label_names[0] == "person"
    with pytest.raises(MLMLError, match=r"'ratio' .* \[0.25, 0.5, 0.75\]. Got 0.3"):
        load_seed_split(coco_dir, 1, 0.3)
    with pytest.raises(MLMLError, match="'split' .* Got 5"):
        load_seed_split(coco_dir, 5, 0.5)


def _write_gz(path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)


@pytest.mark.parametrize(
    "hidden_text, match",
    [
        ("ratio,fold,id,label\n0.5,1,b,y\n0.5,1,a,z\n", r"hidden.csv.gz:3: unknown label .*'z'"),
        ("ratio,fold,id,label\n0.5,1,b,y\n0.5,2,q,x\n", r"hidden.csv.gz:3: unknown id .*'q'"),
        ("ratio,fold,id,label\n0.5,1,b,y\n0.5,1,b\n", r"hidden.csv.gz:3: expected 4 fields, got 3"),
        ("ratio,fold,id,label\nhalf,1,b,y\n", r"hidden.csv.gz:2: column 'ratio' holds 'half'"),
        ("ratio,fold,id,label\n0.5,1,b,x\n", r"hidden.csv.gz:2: sample 'b' has no positive 'x'"),
        ("ratio,fold,id,label\n0.5,1,b,y\n0.5,1,b,y\n", r"hidden.csv.gz:3: .* occurs twice"),
        ("ratio,fold,id,labels\n0.5,1,b,y\n", r"hidden.csv.gz:1: expected the header"),
        ('ratio,fold,id,label\n0.5,1,b,"y"\n0.5,7,a,x\n', r"hidden.csv.gz:3: fold 7 is not in 1..2"),
    ],
)
def test_bad_seed_files_name_the_file_and_line(tmp_path, hidden_text, match):
    from mlml.data.seedfolds import load_seed_split

    _write_gz(tmp_path / "labels.csv.gz", "id,x,y\na,1,0\nb,0,1\n")
    _write_gz(tmp_path / "folds.csv.gz", "id,fold\na,1\nb,2\n")
    _write_gz(tmp_path / "hidden.csv.gz", hidden_text)
    with pytest.raises(DataError, match=match):
        load_seed_split(tmp_path, 1, 0.5)


def test_small_seed_folder_round_trip(tmp_path, coco_dir):
    from mlml.data.seedfolds import load_seed_split

    _write_gz(tmp_path / "labels.csv.gz", "id,x,y\na,1,1\nb,1,0\nc,1,1\n")
    _write_gz(tmp_path / "folds.csv.gz", "id,fold\na,1\nb,2\nc,1\n")
    _write_gz(tmp_path / "hidden.csv.gz", "ratio,fold,id,label\n0.5,2,a,y\n0.5,1,b,x\n0.5,2,c,x\n")
    split = load_seed_split(tmp_path, 2, 0.5)
    np.testing.assert_array_equal(split.train_index, [0, 2])
    np.testing.assert_array_equal(split.observed, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(split.hidden, [[False, True], [True, False]])
    with pytest.raises(DataError, match="belongs to that split's test fold"):
        _write_gz(tmp_path / "hidden.csv.gz", "ratio,fold,id,label\n0.5,1,a,y\n")
        load_seed_split(tmp_path, 1, 0.5)
    shutil.rmtree(tmp_path)
    with pytest.raises(DataError, match="labels.csv.gz: no such file"):
        load_seed_split(tmp_path, 1, 0.5)
