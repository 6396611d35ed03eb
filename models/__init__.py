"""Match models: comparison features -> calibrated match probability.

Imports no other ekjon package.

- :class:`FellegiSunter`: unsupervised m/u by EM, for when no labels exist.
- :class:`PairClassifier`: supervised (logistic on comparison levels, or gradient boosting).
- :func:`save` / :func:`load`: readable, versioned JSON artifacts (never pickle).
- :mod:`models.evaluation`: pairwise precision / recall / F1, curves and pictures.
"""

from models.artifacts import FORMAT_VERSION, MatchModel, from_document, load, save, to_document
from models.assignment import one_to_one
from models.comparisons import Comparison
from models.errors import (
    ArtifactError,
    FeatureError,
    InvalidParameterError,
    LabelError,
    ModelError,
)

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "Comparison",
    "FeatureError",
    "FellegiSunter",
    "InvalidParameterError",
    "LabelError",
    "MatchModel",
    "ModelError",
    "PairClassifier",
    "from_document",
    "load",
    "one_to_one",
    "save",
    "to_document",
]

#: The estimators, imported when first asked for: fitting needs scikit-learn, which a process that
#: only scores with a saved model (``ekjon match``, ``ekjon serve``) never imports.
_ESTIMATORS = {"PairClassifier": "models.classifier", "FellegiSunter": "models.fellegi_sunter"}


def __getattr__(name: str) -> object:
    if name in _ESTIMATORS:
        import importlib

        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
