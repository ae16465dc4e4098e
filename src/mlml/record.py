"""The record of one grid trial: a typed dataclass, built in one place, stored as JSON, read by attribute.

:func:`mlml.experiments.trials.run_trial` builds a :class:`TrialRecord` (``run_trial_safely`` the ``failed``
one), the results store serialises it (:meth:`TrialRecord.to_dict`, one JSON object per trial) and reads it back
(:meth:`TrialRecord.from_dict`), and the readers -- the tables, the report, the figures and the MLflow logging --
read its fields by attribute. Fields a newer or older mlml wrote that this one does not know are kept in
``extra`` and written back unchanged. The field list with its documentation is ``docs/trial-record.md``, generated
from the dataclass (``python -m mlml.record``; a test checks it is current).

For code written against the former plain dicts a record also reads as a mapping (``record["metrics"]``,
``record.get("pr_curve")``); mlml's own readers use attributes.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


def _doc(text: str, default: Any = None, factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(eq=True)
class TrialRecord(Mapping):
    """One trial's result (see the module docstring); every field is plain JSON data."""

    # the trial's key and identity (mlml.experiments.trials.Trial)
    trial_id: str = _doc("hash of the fields below that identify the trial (``Trial.trial_id``)", "")
    dataset: str = _doc("the data SOURCE string (``yeast``, ``mulan:DIR``, ...)", "")
    method: str = _doc("the method's name in the grid (a registered name or a variant's)", "")
    ratio: float = _doc("missing ratio of the hidden positives (scheme ``partial``: the known proportion)", 0.0)
    fold: int = _doc("the test fold's index", 0)
    seed: int = _doc("the grid seed (split, hidden positives, training)", 0)
    weights_source: str = _doc("``observed`` (correct) or ``complete`` (the seed code's leak, labelled everywhere)",
                               "observed")
    config_hash: str = _doc("hash of the grid's training settings (``GridConfig.trial_hash``)", "")
    method_hash: str = _doc("hash of the method's definition", "")
    data_fingerprint: str = _doc("hash of the data (``data_fingerprint``)", "")
    version: str = _doc("mlml's version", "")
    # outcome
    status: str = _doc("``done`` or ``failed``", "done")
    error: str | None = _doc("the traceback of a failed trial", None)
    oracle: bool = _doc("the method reads the hidden-entry mask (IM-WCE)", False)
    recipe: str | None = _doc("the grid's training recipe (``default``, ``seed``)", None)
    scheme: str | None = _doc("the simulation scheme that hid the positives", None)
    method_definition: dict[str, Any] | None = _doc("the method's loss and estimator with their parameters", None)
    versions: dict[str, Any] | None = _doc("versions of the packages that change the numbers", None)
    # test metrics
    metrics: dict[str, Any] = _doc("``evaluate`` scalars on the test fold at threshold 0.5", factory=dict)
    metrics_tuned: dict[str, Any] | None = _doc(
        "scalars at per-class thresholds tuned on the validation rows' observed labels (None without them)", None)
    metrics_policies: dict[str, Any] | None = _doc(
        "policy -> scalars under each threshold policy fitted on the validation rows (None without them)", None)
    own_policy: str | None = _doc("the method's own threshold policy (``Method.threshold_policy``)", None)
    auto_choice: dict[str, Any] | None = _doc(
        "``auto`` only: the candidates' criterion values, what it chose and the policy (:mod:`mlml.auto`)", None)
    cardinality: dict[str, float] | None = _doc(
        "mean labels per test row: ``true``, ``fixed`` (0.5) and per policy (None when streamed)", None)
    pr_curve: dict[str, list[float]] | None = _doc(
        "the micro precision-recall curve of the test scores, ``precision`` and ``recall`` (None when streamed)",
        None)
    per_class: dict[str, list[Any]] | None = _doc(
        "per class: ``names``, ``tp``, ``ap``, ``support`` (test) and ``train_frequency`` (observed, training fold)",
        None)
    diagnostics: dict[str, Any] | None = _doc(
        "how ω̄ finds the hidden positives: ``neg_weight_hidden``, ``neg_weight_negative`` (samples), "
        "``detection_auc``, ``detection_ap``, ``roc_fpr``, ``roc_tpr`` (None for oracles and estimators that do "
        "not detect missing labels)", None)
    timings: dict[str, float] = _doc("seconds: ``weights_s``, ``train_s``, ``eval_s``, ``policy_s``", factory=dict)
    n_train: int | None = _doc("rows of the training fold (training and validation rows)", None)
    n_test: int | None = _doc("rows of the test fold", None)
    epochs: int | None = _doc("epochs trained", None)
    val_score: float | None = _doc("the kept epoch's validation mAP on observed labels (None without them)", None)
    history: list[dict[str, float]] | None = _doc(
        "per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_score``, ``lr``, ``seconds``", None)
    extra: dict[str, Any] = _doc("fields this mlml does not know, kept as they were stored", factory=dict)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (what the store writes as JSON): the fields, then ``extra``'s."""
        return {**{name: getattr(self, name) for name in self.field_names()}, **self.extra}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrialRecord:
        """A record from plain data (a stored record, or one written by hand for a report); fields it lacks take
        their defaults, fields this mlml does not know go to ``extra``."""
        if isinstance(values, TrialRecord):
            return values
        names = set(cls.field_names())
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names}
        for name in ("metrics", "timings"):
            if known.get(name) is None and name in known:
                known[name] = {}
        return cls(**known, extra=extra)

    def replace(self, **changes: Any) -> TrialRecord:
        return dataclasses.replace(self, **changes)

    # -- read-only mapping view, for code written against the former dicts
    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key == "extra" or key not in self.field_names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter((*self.field_names(), *self.extra))

    def __len__(self) -> int:
        return len(self.field_names()) + len(self.extra)


def schema_markdown() -> str:
    """The fields of :class:`TrialRecord` as a markdown page (``docs/trial-record.md``)."""
    lines = [
        "# The trial record",
        "",
        "Generated from `mlml.record.TrialRecord` by `python -m mlml.record > docs/trial-record.md`; do not edit.",
        "",
        "One grid trial's result: built by `mlml.experiments.trials.run_trial` (a failed trial by "
        "`run_trial_safely`), stored as one JSON object per trial in `RUN_DIR/results.sqlite`, read by attribute by "
        "the tables, the report, the figures and the MLflow logging. Numbers that are NaN may be stored as null.",
        "",
        "| field | type | default | what |",
        "|---|---|---|---|",
    ]
    for f in dataclasses.fields(TrialRecord):
        default = "{}" if f.default_factory is dict else repr(f.default)  # type: ignore[comparison-overlap]
        kind = str(f.type).replace("|", "\\|")
        lines.append(f"| `{f.name}` | `{kind}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_markdown())
