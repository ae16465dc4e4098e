"""The paper's three methods; other modules register theirs the same way."""

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
