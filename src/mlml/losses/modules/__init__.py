"""Thin ``nn.Module`` wrappers: they hold hyperparameters and state and call the pure functions.

Which losses compose with confidence weights (ω, ω̄ from a weight estimator)? Every loss multiplies each
per-entry term by the weight of the entry's observed label (see :mod:`mlml.losses.functional`), so a zero
weight always drops an unknown entry. Beyond that:

* compose naturally -- the loss is a sum of a positive branch and a negative branch per entry and ω̄ says how
  far to trust the negative one: ``weighted-bce`` (Eq. 2), ``focal``, ``asl``, ``wan`` (its 1/(C-1) is a
  constant ω̄; a weight multiplies it), ``an-ls``, ``partial-bce``. Registered recipes: ``cb-wce``,
  ``focal-cb``, ``asl-cb``, ``asl-backoff``.
* accepted but not recommended -- the loss already decides which assumed negatives are missing positives, so
  confidence weights would discount the same entries twice: ``hill`` (its negative branch is small near
  p = 1), ``splc`` and ``ll-r``/``ll-ct`` (they correct or reject those entries).
* reads unannotated entries itself -- ``csl`` (class-aware selective loss) trains unknown (-1) entries and suspect
  zeros selectively as negatives, so it gives unknown entries weight 1 instead of the estimator's 0; the entry
  weight multiplies every other term.
* do not compose -- ``epr`` and ``role`` have no assumed-negative term for ω̄ to act on (EPR drops negatives,
  ROLE replaces them by learned label estimates); only ω on the observed positives has an effect and the
  batch-level penalties are not weighted.
* the field's 2022-2025 single-positive losses -- ``em``, ``em-apl``, ``ll-cp``, ``gr`` -- decide themselves how
  far to trust an assumed negative (entropy instead of a negative term, pseudo-labels, corrections, a learned
  robust weight): accepted, as ``ll-r``, but not recommended with confidence weights. ``gpr`` reads ω on
  observed zeros as the weight of a soft pseudo-positive (``needs_pair``): it is made to meet a posterior.
"""

from mlml.losses.modules.base import Criterion, mean_positives
from mlml.losses.modules.bce import WeightedBCE
from mlml.losses.modules.cole import ANLS, EPR, ROLE, WAN
from mlml.losses.modules.entropy import EM, EMAPL
from mlml.losses.modules.focal import ASL, SPLC, Focal, Hill
from mlml.losses.modules.large_loss import LargeLossCorrection, LargeLossPermanent, LargeLossRejection
from mlml.losses.modules.partial import PartialBCE
from mlml.losses.modules.propensity import PropensityWeightedBCE, UnbiasedBCE
from mlml.losses.modules.robust import GPRLoss, GRLoss
from mlml.losses.modules.selective import CSL
from mlml.losses.modules.soft import EnhancedBCE, SoftASL, SoftBCE, WeakSoftBCE

__all__ = [
    "ANLS",
    "ASL",
    "CSL",
    "EM",
    "EMAPL",
    "EnhancedBCE",
    "EPR",
    "ROLE",
    "SPLC",
    "WAN",
    "Criterion",
    "Focal",
    "GPRLoss",
    "GRLoss",
    "Hill",
    "LargeLossCorrection",
    "LargeLossPermanent",
    "LargeLossRejection",
    "PartialBCE",
    "PropensityWeightedBCE",
    "SoftASL",
    "SoftBCE",
    "UnbiasedBCE",
    "WeakSoftBCE",
    "WeightedBCE",
    "mean_positives",
]
