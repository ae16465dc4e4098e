"""The model evidence of ``mlml suggest``: a trained model's probabilities of a data set's rows, or out-of-fold ones.

:func:`model_probabilities` chooses and computes the ``probabilities`` that :func:`mlml.suggest.suggest` reads as
its ``model`` source: those of a model folder written by ``mlml train`` (its labels matched to the data set's by
name), or out-of-fold probabilities of a one-vs-rest logistic regression (:mod:`mlml.evidence`), or none.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError

#: ``model_probabilities`` computes out-of-fold probabilities by default up to this many rows x labels.
OOF_ENTRIES = 2_000_000


def model_probabilities(
    dataset: Any,
    *,
    model: str | os.PathLike[str] | None = None,
    oof_folds: int | None = None,
    random_state: Any = 0,
    progress: bool = False,
) -> tuple[np.ndarray | None, str]:
    """The model evidence of a :class:`~mlml.data.Dataset` for :func:`suggest`, and a line saying what it is.

    Args:
        dataset: the data set (labels, ``label_names``, ``features`` or ``image_paths``).
        model: a model folder written by ``mlml train``: its probabilities of the data set's rows, its labels
            matched to the data set's by name. A model trained on these rows has learned their zeros, so its
            probabilities of the missing positives are lower than out-of-fold ones would be.
        oof_folds: out-of-fold probabilities of a one-vs-rest logistic regression
            (:func:`mlml.evidence.out_of_fold_probabilities`) with this many folds; 0: none; None: 4 folds where the
            data set has tabular features and at most ``OOF_ENTRIES`` rows x labels, else none.
        random_state: seed of the folds.
        progress: a tqdm bar over the fits.

    Returns:
        ``(probabilities or None, description)``.
    """
    labels = dataset.labels
    n_samples, n_labels = labels.shape
    if oof_folds is not None and (isinstance(oof_folds, bool) or not isinstance(oof_folds, (int, np.integer))
                                  or oof_folds < 0 or oof_folds == 1):
        raise MLMLError(f"The 'oof_folds' parameter (--oof-folds) must be 0 (none) or an integer >= 2. Got "
                        f"{oof_folds!r}.")
    if model is not None:
        from mlml.training import load_model

        trained = load_model(model)
        inputs = dataset.features if dataset.features is not None else dataset.image_paths
        if inputs is None:
            raise MLMLError(f"--model {model}: the data set has neither features nor images to predict from.")
        proba = np.asarray(trained.predict_proba(inputs), dtype=np.float64)
        names = list(trained.label_names) if trained.label_names is not None else None
        wanted = [str(x) for x in dataset.label_names]
        if names is not None and names != wanted:
            missing = [x for x in wanted if x not in names]
            if missing:
                raise MLMLError(f"--model {model}: the model has no label {missing[0]!r} of the data set "
                                f"({len(missing)} of {len(wanted)} labels missing).")
            proba = proba[:, [names.index(x) for x in wanted]]
        elif proba.shape[1] != n_labels:
            raise MLMLError(f"--model {model}: the model predicts {proba.shape[1]} labels; the data set has "
                            f"{n_labels}.")
        return proba, (f"model evidence: the probabilities of the model in {model} (if it was trained on these rows, "
                       "it has learned their zeros and --method auto over-weighs it: use --method knn; "
                       "docs/suggest.md)")
    if dataset.features is None or oof_folds == 0:
        return None, "model evidence: none"
    if oof_folds is None:
        if n_samples * n_labels > OOF_ENTRIES:
            return None, (f"model evidence: none ({n_samples:,} x {n_labels:,} labels is beyond the default "
                          f"{OOF_ENTRIES:,} entries of out-of-fold fits; ask with --oof-folds 4)")
        oof_folds = 4
    from mlml.evidence import out_of_fold_probabilities

    proba = out_of_fold_probabilities(labels, dataset.features, n_folds=oof_folds, random_state=random_state,
                                      progress=progress)
    return proba, (f"model evidence: out-of-fold probabilities of one-vs-rest logistic regression "
                   f"({oof_folds} folds, {oof_folds * n_labels} fits)")
