"""Predictions on new samples: ids, label names, probabilities and the model's decisions.

:func:`predict` returns a :class:`Predictions` (held in memory); :func:`write_predictions` streams the same
rows to a CSV batch by batch, so that no ``n_samples x n_labels`` matrix is held (``mlml predict``). The
decisions are the model's own: its stored threshold policy (:mod:`mlml.evaluation.policies`; every policy decides
a row from that row's scores alone, so a batch is decided as the whole would be), else its per-class
``thresholds``, else 0.5.

CSV layouts (``format``):

``wide``  one row per sample: ``id``, ``predicted`` (the decided label names joined by ``|``), then one column per
          label holding its probability (six decimals); with ``top_k``: ``id``, ``predicted``, then ``label_1``,
          ``probability_1``, ..., ``label_k``, ``probability_k`` (best first).
``long``  one row per (sample, label): ``id``, ``label``, ``probability``, ``decision`` (1 or 0); with ``top_k``
          only each sample's ``k`` best labels, with a ``rank`` column (1 = best) after ``id``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlml._io import atomic_open
from mlml.exceptions import MLMLError

FORMATS: tuple[str, ...] = ("wide", "long")
#: The separator of the decided label names in the ``predicted`` column.
SEPARATOR = "|"
_BATCH = 4096


@dataclass
class Predictions:
    """A model's predictions for named samples.

    Attributes:
        ids: ``(n_samples,)`` sample ids (strings).
        label_names: the ``n_labels`` label names, in column order.
        probabilities: float32 ``(n_samples, n_labels)``.
        decisions: int8 ``(n_samples, n_labels)``: 1 where the model decides the label is present.
        policy: the decision rule (a threshold policy's name, ``thresholds`` for stored per-class thresholds, or
            ``fixed``).
    """

    ids: np.ndarray
    label_names: list[str]
    probabilities: np.ndarray
    decisions: np.ndarray
    policy: str

    def __len__(self) -> int:
        return len(self.ids)

    def predicted(self) -> list[list[str]]:
        """The decided label names of every sample."""
        names = np.asarray(self.label_names, dtype=object)
        return [list(names[np.flatnonzero(row)]) for row in self.decisions]

    def top_k(self, k: int) -> list[list[tuple[str, float]]]:
        """Every sample's ``k`` most probable labels as ``(name, probability)``, best first."""
        from mlml.evaluation.ranking import top_k

        _check_k(k)
        best = top_k(self.probabilities, k)
        return [[(self.label_names[j], float(self.probabilities[i, j])) for j in row] for i, row in enumerate(best)]

    def to_frame(self) -> Any:
        """A pandas DataFrame indexed by id: one probability column per label and ``predicted`` (a list of names).

        Raises:
            MLMLError: pandas is not installed (it is not a dependency of mlml).
        """
        try:
            import pandas as pd
        except ImportError:
            raise MLMLError("Predictions.to_frame needs pandas: pip install pandas.") from None
        frame = pd.DataFrame(self.probabilities, index=pd.Index(self.ids, name="id"), columns=self.label_names)
        frame.insert(0, "predicted", self.predicted())
        return frame

    def to_csv(self, path: str | os.PathLike[str], *, format: Literal["wide", "long"] = "wide",
               top_k: int | None = None) -> Path:
        """Write the predictions as ``mlml predict`` does (see the module docstring); returns the path."""
        batches = ((self.ids[i : i + _BATCH], self.probabilities[i : i + _BATCH], self.decisions[i : i + _BATCH])
                   for i in range(0, len(self.ids), _BATCH))
        _write(path, batches, self.label_names, format=format, top_k=top_k)
        return Path(path)


def predict(model: Any, samples: Any, *, device: str = "cpu", batch_size: int = _BATCH) -> Predictions:
    """The predictions of ``model`` (a :class:`~mlml.training.TrainedModel` or a model folder) for ``samples``.

    Args:
        samples: a SOURCE string or path (:func:`mlml.data.unlabelled.load_samples`: labels not needed), an
            :class:`mlml.data.Dataset`, or a :class:`~mlml.data.unlabelled.Samples`.
    """
    trained, loaded = _model_and_samples(model, samples, device)
    parts = list(iter_batches(trained, loaded, batch_size=batch_size))
    n_labels = trained.n_labels
    return Predictions(
        ids=np.asarray(loaded.ids).astype(str),
        label_names=label_names(trained),
        probabilities=np.concatenate([p for _, p, _ in parts]) if parts else np.empty((0, n_labels), np.float32),
        decisions=np.concatenate([d for _, _, d in parts]) if parts else np.empty((0, n_labels), np.int8),
        policy=decision_name(trained),
    )


def write_predictions(model: Any, samples: Any, out: str | os.PathLike[str], *,
                      format: Literal["wide", "long"] = "wide", top_k: int | None = None, device: str = "cpu",
                      batch_size: int = _BATCH) -> int:
    """Stream the predictions of ``model`` for ``samples`` (as :func:`predict`) to the CSV ``out``, batch by batch
    (atomically: the file appears once complete); returns the number of samples written."""
    check_layout(format, top_k)
    trained, loaded = _model_and_samples(model, samples, device)
    _write(out, iter_batches(trained, loaded, batch_size=batch_size), label_names(trained), format=format,
           top_k=top_k)
    return len(loaded.ids)


def check_layout(format: str, top_k: int | None) -> None:
    """Raise an MLMLError naming the parameter for an unknown ``format`` or a ``top_k`` below 1."""
    from mlml._validation import check_option

    check_option(format, "format", "write_predictions", FORMATS)
    if top_k is not None:
        _check_k(top_k)


def iter_batches(trained: Any, samples: Any, *, batch_size: int = _BATCH
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(ids, probabilities, decisions)`` for every batch of ``batch_size`` samples, in order."""
    from mlml.training.evaluate import model_inputs

    ids = np.asarray(samples.ids).astype(str)
    inputs = model_inputs(trained, samples)
    start = 0
    for proba in trained.iter_proba(inputs, batch_size=batch_size):
        stop = start + len(proba)
        yield ids[start:stop], proba, trained.apply_decision(proba)
        start = stop


def decision_name(trained: Any) -> str:
    """The name of the rule :meth:`TrainedModel.apply_decision` applies (``select: POLICY`` for the policy
    ``select`` chose)."""
    if trained.decision is not None:
        chosen = str(trained.decision.get("policy"))
        return f"select: {chosen}" if "select" in (trained.decision.get("info") or {}) else chosen
    return "thresholds" if trained.thresholds is not None else "fixed"


def label_names(trained: Any) -> list[str]:
    """The model's label names, or ``label_0``, ``label_1``, ... when it was saved without them."""
    if trained.label_names is not None:
        return [str(name) for name in trained.label_names]
    return [f"label_{j}" for j in range(trained.n_labels)]


def _model_and_samples(model: Any, samples: Any, device: str) -> tuple[Any, Any]:
    from mlml.data.unlabelled import load_samples
    from mlml.training.saved import TrainedModel, load_model

    trained = model if isinstance(model, TrainedModel) else load_model(model, device=device)
    loaded = load_samples(samples) if isinstance(samples, (str, os.PathLike)) else samples
    return trained, loaded


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MLMLError(f"The 'top_k' parameter must be an int >= 1. Got {k!r} instead.")


def _write(path: str | os.PathLike[str], batches: Any, names: list[str], *, format: str,
           top_k: int | None) -> None:
    from mlml.evaluation.ranking import top_k as best_of

    check_layout(format, top_k)
    n_labels = len(names)
    k = min(top_k, n_labels) if top_k is not None else None
    quoted = [_cell(name) for name in names]
    label_array = np.asarray(quoted, dtype=object)
    with atomic_open(path, "w", newline="") as handle:
        if format == "wide":
            head = ["id", "predicted"] + (
                [f"{c}_{r}" for r in range(1, k + 1) for c in ("label", "probability")] if k else quoted)
            handle.write(",".join(head) + "\n")
        else:
            handle.write("id,rank,label,probability,decision\n" if k else "id,label,probability,decision\n")
        for ids, proba, decisions in batches:
            cells = [_cell(i) for i in ids]
            if format == "wide":
                predicted = [_cell(SEPARATOR.join(names[j] for j in np.flatnonzero(row))) for row in decisions]
                if k:
                    best = best_of(proba, k)
                    top_scores = np.take_along_axis(proba, best, axis=1)
                    for i in range(len(cells)):
                        pairs = ",".join(f"{quoted[j]},{s:.6g}" for j, s in zip(best[i], top_scores[i]))
                        handle.write(f"{cells[i]},{predicted[i]},{pairs}\n")
                else:
                    text = fixed_decimals(proba)
                    handle.writelines(f"{cells[i]},{predicted[i]},{text[i]}\n" for i in range(len(cells)))
            elif k:
                best = best_of(proba, k)
                top_scores = np.take_along_axis(proba, best, axis=1)
                top_decisions = np.take_along_axis(decisions, best, axis=1)
                for i in range(len(cells)):
                    handle.writelines(f"{cells[i]},{r + 1},{quoted[j]},{s:.6g},{d}\n"
                                      for r, (j, s, d) in enumerate(zip(best[i], top_scores[i], top_decisions[i])))
            else:
                for i in range(len(cells)):
                    handle.writelines(f"{cells[i]},{name},{s:.6g},{d}\n"
                                      for name, s, d in zip(label_array, proba[i], decisions[i]))


def fixed_decimals(proba: np.ndarray) -> list[str]:
    """Each row of probabilities in [0, 1] as ``"0.123456,0.000012,..."`` (six decimals), formatted with array
    operations: a wide table of 10^8 probabilities is written in seconds rather than minutes of ``%`` formatting."""
    n, n_labels = proba.shape
    if n_labels == 0:
        return [""] * n
    units = np.rint(np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0) * 1e6).astype(np.int64)
    chars = np.empty((n, n_labels, 9), dtype=np.uint8)
    chars[:, :, 0] = ord("0") + units // 1_000_000
    chars[:, :, 1] = ord(".")
    for k in range(6):
        chars[:, :, 2 + k] = ord("0") + (units // 10 ** (5 - k)) % 10
    chars[:, :, 8] = ord(",")
    rows = chars.reshape(n, n_labels * 9)[:, :-1]
    return [row.tobytes().decode("ascii") for row in rows]


def _cell(text: Any) -> str:
    """A CSV cell: quoted (doubling inner quotes) when it holds a comma, a quote or a line break."""
    text = str(text)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
