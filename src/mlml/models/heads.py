"""Classification heads: features ``(batch, in_features)`` -> logits ``(batch, n_labels)``.

Registry ``HEADS`` (``HEADS.create(name, in_features=..., n_labels=..., **kwargs)``):

* ``linear``   -- one affine layer (a logistic regression per label).
* ``mlp``      -- hidden layers ``Linear -> activation -> dropout``; PyTorch's default initialisation.
* ``average``  -- the probability average of several heads of one kind (what ``auto`` saves when it combines).
* ``seed-mlp`` -- the head of the seed paper's code, for faithful reproduction: flattened features
  ``-> 2048 -> 1024 -> 256 -> n_labels`` with ReLU, Keras' default initialisation (``glorot_uniform``
  weights, zero biases). The seed ends in a sigmoid; here the head returns logits and the losses apply the
  (numerically stable) sigmoid themselves, so ``sigmoid(head(x))`` is the seed's output.

Every head outputs logits; probabilities are ``torch.sigmoid(logits)``. Any input of more than two
dimensions (e.g. a ``(batch, 5, 5, 1536)`` feature map) is flattened first, as Keras' ``Flatten`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from mlml._registry import Registry
from mlml._validation import check_option, check_positive_int
from mlml.exceptions import MLMLError

HEADS: Registry[type] = Registry("head")

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


class Head(nn.Module):
    """Base class: ``in_features`` and ``n_labels`` are attributes; ``forward`` returns logits."""

    in_features: int
    n_labels: int

    def _check_sizes(self, in_features: int, n_labels: int) -> None:
        self.in_features = check_positive_int(in_features, "in_features", type(self).__name__)
        self.n_labels = check_positive_int(n_labels, "n_labels", type(self).__name__)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features.flatten(1))


@HEADS.register("linear")
class LinearHead(Head):
    """``logits = x W^T + b``: one logistic regression per label."""

    def __init__(self, in_features: int, n_labels: int) -> None:
        super().__init__()
        self._check_sizes(in_features, n_labels)
        self.net = nn.Linear(self.in_features, self.n_labels)


@HEADS.register("mlp")
class MLPHead(Head):
    """A multilayer perceptron: ``[Linear -> activation -> Dropout] * len(hidden_sizes) -> Linear``.

    Args:
        in_features: input width (features are flattened first).
        n_labels: number of output logits.
        hidden_sizes: widths of the hidden layers, e.g. ``(512,)`` or ``(1024, 256)``.
        activation: ``relu``, ``gelu``, ``silu``, ``tanh`` or ``leaky_relu``.
        dropout: drop probability after each hidden activation (and on the input when ``input_dropout``).
        input_dropout: drop probability on the (flattened) input features.
    """

    def __init__(
        self,
        in_features: int,
        n_labels: int,
        hidden_sizes: Sequence[int] = (256,),
        activation: Activation = "relu",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self._check_sizes(in_features, n_labels)
        check_option(activation, "activation", "the 'mlp' head", _ACTIVATIONS)
        for name, value in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= float(value) < 1.0:
                raise MLMLError(f"The {name!r} parameter of the 'mlp' head must be in [0, 1). Got {value!r}.")
        if isinstance(hidden_sizes, int):
            hidden_sizes = (hidden_sizes,)
        sizes = [check_positive_int(h, "hidden_sizes", "the 'mlp' head") for h in hidden_sizes]
        self.hidden_sizes = tuple(sizes)
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout > 0 else []
        width = self.in_features
        for size in sizes:
            layers += [nn.Linear(width, size), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, self.n_labels))
        self.net = nn.Sequential(*layers)


@HEADS.register("seed-mlp")
class SeedMLPHead(Head):
    """The seed's head: flatten ``-> 2048 -> 1024 -> 256 -> n_labels``, ReLU, Keras initialisation.

    Keras' ``Dense`` defaults are ``kernel_initializer="glorot_uniform"`` (``U(-a, a)`` with
    ``a = sqrt(6 / (fan_in + fan_out))``) and ``bias_initializer="zeros"``; this head uses the same, so a
    reproduction starts from the same distribution of weights as the seed. No dropout (the seed has none).
    Returns logits; the seed's sigmoid output is ``torch.sigmoid`` of them.
    """

    SIZES = (2048, 1024, 256)

    def __init__(self, in_features: int, n_labels: int) -> None:
        super().__init__()
        self._check_sizes(in_features, n_labels)
        layers: list[nn.Module] = []
        width = self.in_features
        for size in self.SIZES:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, self.n_labels))
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.net:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)  # = Keras glorot_uniform
                nn.init.zeros_(module.bias)


@HEADS.register("average")
class AverageHead(Head):
    """Several heads of one kind whose PROBABILITIES are averaged: ``logit(mean_k σ(h_k(x)))``, computed stably as
    ``logsumexp_k(−softplus(−z_k)) − logsumexp_k(−softplus(z_k))``. What ``auto`` (:mod:`mlml.auto`) saves when a
    probability average of its best candidates beats the best alone; saved and loaded like any head.

    Args:
        in_features, n_labels: as every head.
        n_members: how many member heads.
        head: the members' registered head (not ``average``); ``head_kwargs`` their parameters.
    """

    def __init__(self, in_features: int, n_labels: int, n_members: int = 2, head: str = "mlp",
                 head_kwargs: dict | None = None) -> None:
        super().__init__()
        self._check_sizes(in_features, n_labels)
        check_positive_int(n_members, "n_members", "the 'average' head")
        if head == "average":
            raise MLMLError("The members of an 'average' head must be another head.")
        self.members = nn.ModuleList(
            create_head(head, self.in_features, self.n_labels, **(head_kwargs or {})) for _ in range(n_members)
        )

    def forward(self, features: Tensor) -> Tensor:
        import torch
        from torch.nn.functional import softplus

        z = torch.stack([member(features) for member in self.members])
        return torch.logsumexp(-softplus(-z), dim=0) - torch.logsumexp(-softplus(z), dim=0)


def create_head(name: str, in_features: int, n_labels: int, **kwargs: object) -> Head:
    """Build the head registered as ``name`` (see ``HEADS.names()``)."""
    head = HEADS.get(name)
    try:
        return head(in_features=in_features, n_labels=n_labels, **kwargs)
    except TypeError as exc:
        raise MLMLError(f"Bad parameters for the {name!r} head: {exc}. Got {kwargs!r}.") from None


def count_parameters(module: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["HEADS", "AverageHead", "Head", "LinearHead", "MLPHead", "SeedMLPHead", "count_parameters", "create_head"]
