"""``mlml predict`` and ``mlml decide``: a trained model's decisions on new samples, and changing its decision rule
without retraining. Read the arguments, call the library, print and write."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlml._io import check_outputs
from mlml.exceptions import MLMLError


def model_files(model: Any) -> dict[str, Any]:
    """The files of a model folder a command reads, by a name for messages."""
    return {f"model file {model / name}": model / name for name in ("model.pt", "model.json")}


def resolve_policy(name: str, method: str) -> tuple[str, str]:
    """``(policy, note)``: ``own`` replaced by the method's own threshold policy, and a line saying so."""
    from mlml.methods import METHODS

    if name != "own":
        return name, ""
    if not method or method not in METHODS.names():
        raise MLMLError(f"--thresholds own needs the model's method; the model names {method!r}, not a registered "
                        "method. Name a policy instead.")
    policy = METHODS.get(method).threshold_policy
    return policy, f"--thresholds own: the method {method!r} decides with its own policy {policy!r}"


def refit(trained: Any, name: str) -> str:
    """Refit the decision of a loaded model on its stored validation rows; returns the policy's name and prints
    what ``own`` resolved to."""
    policy, note = resolve_policy(name, trained.method)
    if note:
        print(note)
    trained.decide(policy)
    return policy


def _predict(args: argparse.Namespace) -> int:
    from mlml.data.unlabelled import load_samples
    from mlml.predictions import check_layout, decision_name, write_predictions
    from mlml.training.saved import load_model

    check_layout(args.format, args.top_k)
    check_outputs({"--out": args.out}, model_files(args.model))
    trained = load_model(args.model, device=args.device)
    samples = load_samples(args.source)
    files = {f"SOURCE file {f}": f for f in samples.provenance.get("files", [])}
    check_outputs({"--out": args.out}, {**model_files(args.model), **files})
    if args.thresholds is not None:
        refit(trained, args.thresholds)
    n = write_predictions(trained, samples, args.out, format=args.format, top_k=args.top_k,
                          batch_size=args.batch_size)
    print(f"{n} samples x {trained.n_labels} labels ({args.format} format"
          f"{f', top {args.top_k}' if args.top_k else ''}; decisions: {decision_name(trained)}) -> {args.out}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    from mlml._io import write_text
    from mlml.predictions import decision_name
    from mlml.training.saved import json_default, load_model

    meta = args.model / "model.json"
    trained = load_model(args.model)
    refit(trained, args.thresholds)
    # model.json alone changes (atomically): the weights and the validation rows stay those of the trained model
    values = json.loads(meta.read_text(encoding="utf-8"))
    values["decision"], values["thresholds"] = trained.decision, trained.thresholds
    write_text(meta, json.dumps(values, indent=1, default=json_default))
    shared, chosen = trained.decision.get("shared"), trained.decision["policy"]
    detail = (f"one shared threshold {shared:.3f} on the calibrated probabilities" if chosen == "calibrated"
              else "a per-sample number of labels" if chosen == "cardinality"
              else "per-class thresholds" if chosen != "fixed" else "0.5 everywhere")
    print(f"decisions of {args.model}: {decision_name(trained)} ({detail}), fitted on its {len(trained.val_proba)} "
          f"validation rows -> {meta}")
    return 0
