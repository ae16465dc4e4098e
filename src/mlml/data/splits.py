"""K-fold splits for multi-label data: iterative stratification (default) or plain shuffled k-fold.

The seed paper's protocol is 4 folds: each fold is the test set once, the other three form the training set.
:func:`kfold_indices` returns exactly those ``(train, test)`` pairs, reproducibly from ``random_state``.

Stratification is Sechidis et al.'s iterative stratification (ECML-PKDD 2011) as implemented by the
``iterative-stratification`` package (``MultilabelStratifiedKFold``): it deals the samples of the rarest
label first, to the fold that most lacks that label, so every label's positives spread evenly over the folds.
"""

from __future__ import annotations

import numbers

import numpy as np

from mlml._validation import RandomState, check_positive_int
from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels, positive_mask


def _splitter_seed(random_state: RandomState) -> int:
    """An int seed for the scikit-learn-style splitter.

    An int is passed on unchanged (the same folds as ``MultilabelStratifiedKFold(random_state=int)``); a
    ``SeedSequence`` or ``Generator`` gives a 32-bit int drawn from it; None means 0.
    """
    if random_state is None:
        return 0
    if isinstance(random_state, bool):
        raise MLMLError(
            f"The 'random_state' parameter of kfold_indices must be an int. Got {random_state!r}."
        )
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise MLMLError(
                f"The 'random_state' parameter of kfold_indices must be >= 0. Got {random_state!r} instead."
            )
        return int(random_state) % 2**32
    if isinstance(random_state, np.random.SeedSequence):
        return int(random_state.generate_state(1)[0])
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32, dtype=np.uint64))
    raise MLMLError(
        "The 'random_state' parameter of kfold_indices must be an int, a SeedSequence, a numpy Generator or "
        f"None. Got {random_state!r} instead."
    )


def kfold_indices(
    labels: LabelMatrix,
    n_splits: int = 4,
    *,
    stratified: bool = True,
    random_state: RandomState = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split samples into ``n_splits`` folds; return the ``(train_idx, test_idx)`` pair of each fold.

    Every sample is in exactly one test fold; ``train_idx`` is the complement of ``test_idx``. Both are sorted
    ``int64`` arrays of row positions.

    Args:
        labels: ``(n_samples, n_labels)`` label matrix, dense or CSR; positives are the ``1`` entries
            (``-1`` unknown entries count as not positive).
        n_splits: number of folds, at least 2 and at most ``n_samples``.
        stratified: iterative stratification (``MultilabelStratifiedKFold``, shuffled); False gives plain
            shuffled ``KFold``.
        random_state: int (passed to the splitter as is), ``SeedSequence`` or ``Generator`` (an int is drawn
            from it), or None (0). The same value always gives the same folds.

    Raises:
        MLMLError: bad ``n_splits``, ``random_state`` or labels.

    Example:
        >>> import numpy as np
        >>> Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 5)
        >>> folds = kfold_indices(Y, n_splits=4, random_state=0)
        >>> sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(20))
        True
    """
    labels = check_labels(labels, name="labels", allow_unknown=True)
    n_splits = check_positive_int(n_splits, "n_splits", "kfold_indices", minimum=2)
    n_samples = labels.shape[0]
    if n_splits > n_samples:
        raise MLMLError(
            f"The 'n_splits' parameter of kfold_indices ({n_splits}) exceeds the number of samples "
            f"({n_samples})."
        )
    seed = _splitter_seed(random_state)
    placeholder = np.zeros((n_samples, 1))
    if stratified:
        y = positive_mask(labels)
        if y.shape[1] == 1:
            from sklearn.model_selection import StratifiedKFold

            splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            splits = splitter.split(placeholder, y[:, 0])
        else:
            from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

            splitter = MultilabelStratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            splits = splitter.split(placeholder, y.astype(np.int8))
    else:
        from sklearn.model_selection import KFold

        splits = KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(placeholder)
    return [(np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)) for train, test in splits]


def fold_of_each_sample(folds: list[tuple[np.ndarray, np.ndarray]], n_samples: int) -> np.ndarray:
    """The 0-based test fold of every sample, shape ``(n_samples,)``.

    Raises:
        MLMLError: a sample is in no test fold or in several.
    """
    fold = np.full(n_samples, -1, dtype=np.int64)
    for k, (_, test) in enumerate(folds):
        if np.any(fold[test] >= 0):
            raise MLMLError(f"Sample {int(test[fold[test] >= 0][0])} is in more than one test fold.")
        fold[test] = k
    if np.any(fold < 0):
        raise MLMLError(f"Sample {int(np.flatnonzero(fold < 0)[0])} is in no test fold.")
    return fold


def stratification_error(labels: LabelMatrix, folds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over labels and folds of ``|p_fold(c) - p_all(c)|``, the proportion of positives of label ``c``.

    The labels-distribution measure of Sechidis et al. (2011): 0 for perfectly stratified folds.
    """
    positives = positive_mask(labels)
    overall = positives.mean(axis=0)
    return float(np.mean([np.abs(positives[test].mean(axis=0) - overall).mean() for _, test in folds]))
