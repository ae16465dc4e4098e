"""Registered methods: a loss from ``LOSSES`` with a weight estimator from ``mlml.weights.ESTIMATORS``.

The paper's three (``bce``, ``im-wce``, ``cb-wce``), the field's strong losses with unit weights (``ones``:
weight 1 on known entries, 0 on unknown ones), and a few compositions of a loss with confidence weights
(``focal-cb``, ``asl-cb``, ``asl-backoff``); see :mod:`mlml.losses.modules` for which losses compose.
"""

from mlml.losses.registry import Method, register_method

register_method(Method("bce", "weighted-bce", "ones", description="plain binary cross-entropy (assume negative)"))
register_method(
    Method(
        "im-wce",
        "weighted-bce",
        "ignore-missing",
        description="oracle: weight 0 on the hidden entries (reads the hidden mask)",
        oracle=True,
    )
)
register_method(
    Method("cb-wce", "weighted-bce", "pattern", description="confidence-based weights, Eq. 3 (label patterns)")
)

# Cole et al., CVPR 2021
register_method(
    Method("an", "weighted-bce", "ones", description="assume negative (Cole et al. 2021)", alias_of="bce")
)
register_method(Method("an-ls", "an-ls", "ones", description="assume negative with label smoothing, eps=0.1"))
register_method(Method("wan", "wan", "ones", description="weak assume negative: negatives weighted 1/(C-1)"))
register_method(
    Method("epr", "epr", "ones",
           description="expected positive regularisation (k: mean observed positives per row unless given)")
)
register_method(
    Method("role", "role", "ones", description="online label estimation (learned per-sample label estimates)")
)
# Lin et al. 2017; Ben-Baruch et al. 2021; Zhang et al. 2021; Kim et al. 2022; Durand et al. 2019
register_method(Method("focal", "focal", "ones", description="focal loss, gamma=2"))
register_method(Method("asl", "asl", "ones",
                       description="asymmetric loss, gamma+=0, gamma-=4, margin 0.05, focusing detached (authors')"))
register_method(Method("hill", "hill", "ones", description="Hill loss (lambda=1.5, focal margin positives)"))
register_method(Method("splc", "splc", "ones",
                       description="self-paced loss correction, tau=0.6 from epoch 1 (corrected zeros: plain focal)"))
register_method(Method("ll-r", "ll-r", "ones", description="large loss rejection, +0.2% per epoch"))
register_method(Method("ll-ct", "ll-ct", "ones", description="large loss temporary correction, +0.2% per epoch"))
register_method(
    Method("partial-bce", "partial-bce", "ones", description="BCE normalised by the proportion of known labels")
)
# Compositions with confidence weights
register_method(Method("focal-cb", "focal", "pattern", description="focal loss x confidence weights (patterns)"))
register_method(Method("asl-cb", "asl", "pattern", description="asymmetric loss x confidence weights (patterns)"))
register_method(
    Method("asl-backoff", "asl", "backoff", description="asymmetric loss x confidence weights (backoff)")
)
register_method(
    Method(
        "cb-wce-noisy-or",
        "weighted-bce",
        "pairwise-noisy-or",
        description="confidence-based weights from pairwise co-occurrence (noisy-or over observed labels)",
    )
)
register_method(
    Method(
        "cb-wce-backoff",
        "weighted-bce",
        "backoff",
        description="confidence-based weights, Eq. 3 shrunk toward pairwise where patterns are rare",
    )
)
