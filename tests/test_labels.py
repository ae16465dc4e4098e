import gzip

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.exceptions import DataError, MLMLError
from mlml.labels import (
    LabelTable,
    check_labels,
    label_counts,
    positives_per_sample,
    read_labels_csv,
    write_labels_csv,
    write_matrix_csv,
)


def test_check_labels_converts_bool_and_int():
    out = check_labels(np.array([[True, False], [False, True]]))
    assert out.dtype == np.int8 and out.tolist() == [[1, 0], [0, 1]]
    out = check_labels(np.array([[1.0, -1.0]]))
    assert out.dtype == np.int8 and out.tolist() == [[1, -1]]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0, 3]]), "Found the value 3"),
        (np.array([[0, -2]]), "Found the value -2"),
        (np.array([[0.5, 1]]), "Found the value 0.5"),
        (np.array([1, 0]), "must be 2-D"),
        (np.zeros((0, 3)), "is empty"),
        (np.array([["a", "b"]]), "numeric or boolean"),
    ],
)
def test_check_labels_rejects(bad, message):
    with pytest.raises(MLMLError, match=message):
        check_labels(bad)


def test_check_labels_unknown_policy_and_width():
    with pytest.raises(MLMLError, match="-1 = unknown is not allowed"):
        check_labels(np.array([[-1, 1]]), allow_unknown=False)
    with pytest.raises(MLMLError, match="expected 3"):
        check_labels(np.array([[0, 1]]), n_labels=3)


def test_sparse_labels_keep_csr_and_agree_with_dense():
    dense = np.array([[1, 0, -1], [0, 0, 1]], dtype=np.int8)
    out = check_labels(sp.csr_matrix(dense))
    assert sp.issparse(out) and out.dtype == np.int8
    np.testing.assert_array_equal(out.toarray(), dense)
    np.testing.assert_array_equal(label_counts(out), label_counts(dense))
    np.testing.assert_array_equal(positives_per_sample(out), [1, 1])
    with pytest.raises(MLMLError, match="Found the value 3"):
        check_labels(sp.csr_matrix(np.array([[3, 0]])))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_labels_file_round_trip(tmp_path, suffix):
    values = np.array([[1, 0, -1], [0, 1, 1]], np.int8)
    table = LabelTable(np.array(["a", "b"]), ["cat", "dog", "traffic light"], values)
    path = write_labels_csv(tmp_path / f"labels{suffix}", table)
    back = read_labels_csv(path)
    assert list(back.ids) == ["a", "b"] and back.names == table.names
    np.testing.assert_array_equal(back.values, table.values)


def test_read_real_coco_labels(coco_dir):
    table = read_labels_csv(coco_dir / "labels.csv.gz", allow_unknown=False)
    assert table.values.shape == (33052, 80)
    assert table.names[:3] == ["person", "bicycle", "car"]
    assert positives_per_sample(table.values).min() == 4
    assert abs(positives_per_sample(table.values).mean() - 5.28) < 0.01


@pytest.mark.parametrize(
    "content, message",
    [
        (",a\n1,0\n", r":1: expected a header whose first column names the sample ids"),
        ("a,b\n0,1\n0,0\n", r"the id '0' occurs more than once \(the first column, 'a', holds the sample ids\)"),
        ("id,a,b\n1,0\n", r":2: expected 3 fields, got 2"),
        ("id,a,b\n1,0,1\n2,0,7\n", r":3: column 'b' holds '7'"),
        ("id,a\n1,0\n1,1\n", r"the id '1' occurs more than once"),
        ("id,a\n", r"has a header but no rows"),
    ],
)
def test_read_labels_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_labels_csv(path)
    assert str(path) in str(info.value)


def test_read_labels_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(DataError, match="no such labels file"):
        read_labels_csv(tmp_path / "absent.csv")
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(gzip.compress(b"id,a\n1,0\n2,1\n")[:-12])
    with pytest.raises(DataError, match="cannot read the labels file"):
        read_labels_csv(path)


def test_write_matrix_csv_floats_and_shape_check(tmp_path):
    path = write_matrix_csv(tmp_path / "w.csv", ["x"], ["a", "b"], np.array([[0.25, 1.0]]))
    assert path.read_text().splitlines() == ["id,a,b", "x,0.25,1"]
    with pytest.raises(MLMLError, match="do not match"):
        write_matrix_csv(tmp_path / "w.csv", ["x", "y"], ["a", "b"], np.array([[0.25, 1.0]]))


def test_read_labels_csv_accepts_a_byte_order_mark(tmp_path):
    plain = tmp_path / "bom.csv"
    plain.write_bytes(b"\xef\xbb\xbfid,cat,dog\n1,1,0\n2,0,-1\n")
    table = read_labels_csv(plain)
    assert table.names == ["cat", "dog"] and table.ids.tolist() == ["1", "2"]
    packed = tmp_path / "bom.csv.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(b"\xef\xbb\xbfid,cat\n7,1\n")
    assert read_labels_csv(packed).ids.tolist() == ["7"]
    write_labels_csv(tmp_path / "out.csv", table)
    assert (tmp_path / "out.csv").read_bytes().startswith(b"id,")  # written without a mark


# ---------------------------------------------------------------- partial annotations (issue 14)
def test_verified_negative_is_accepted_where_unknown_is_and_refused_elsewhere():
    from mlml.labels import VERIFIED_NEGATIVE

    assert VERIFIED_NEGATIVE == 2
    partial = np.array([[1, 2, -1], [0, 2, 1]])
    assert check_labels(partial).tolist() == partial.tolist()
    with pytest.raises(MLMLError, match="2 = verified negative is not allowed"):
        check_labels(np.array([[1, 2]]), allow_unknown=False)
    with pytest.raises(MLMLError, match="2 = verified negative is not allowed"):
        check_labels(partial, allow_verified=False)
    assert check_labels(np.array([[1, 2, 0]]), allow_unknown=False, allow_verified=True).tolist() == [[1, 2, 0]]


def test_csr_stores_verified_negatives_and_unknowns_explicitly():
    from mlml.labels import is_partial, known_mask, suspect_mask, unannotated_as_negative

    dense = np.array([[1, 2, -1, 0], [0, 0, 2, 1]], dtype=np.int8)
    csr = check_labels(sp.csr_matrix(dense))
    assert sorted(csr.data.tolist()) == [-1, 1, 1, 2, 2] and csr.nnz == 5
    np.testing.assert_array_equal(csr.toarray(), dense)
    np.testing.assert_array_equal(known_mask(csr), dense != -1)
    np.testing.assert_array_equal(suspect_mask(csr), dense == 0)
    assert is_partial(csr) and is_partial(dense) and not is_partial(np.array([[0, 1]]))
    relabelled = unannotated_as_negative(csr)
    assert sp.issparse(relabelled) and relabelled.nnz == 4
    np.testing.assert_array_equal(relabelled.toarray(), unannotated_as_negative(dense))
    np.testing.assert_array_equal(unannotated_as_negative(dense), [[1, 2, 0, 0], [0, 0, 2, 1]])
    assert dense[0, 2] == -1  # the input is not modified


def test_labels_file_holds_verified_negatives(tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text("id,a,b,c\nx,1,2,-1\ny,0,2,1\n")
    assert read_labels_csv(path).values.tolist() == [[1, 2, -1], [0, 2, 1]]
    with pytest.raises(DataError, match=r"partial.csv:2: column 'b' holds '2'"):
        read_labels_csv(path, allow_unknown=False)
