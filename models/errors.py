"""The match models' exceptions: a small tree of precise errors, each message one sentence.

``models`` imports no other ekjon package but the ground floor, so the tree hangs from
:class:`ekjon.errors.EkjonError`; every error below ``ModelError`` derives from ``ValueError`` as
well, so callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

from ekjon.errors import EkjonError


class ModelError(EkjonError):
    """Base of every error the match models raise on purpose."""


class InvalidParameterError(ModelError, ValueError, TypeError):
    """A model parameter outside its allowed values.

    Derives from ``TypeError`` too, as scikit-learn's own ``InvalidParameterError`` does, so code
    written against scikit-learn estimators catches it.
    """


class FeatureError(ModelError, ValueError):
    """Comparison features that do not fit the model: wrong columns, non-numeric or infinite."""


class LabelError(ModelError, ValueError):
    """Training labels that are not one 0/1 value per candidate pair."""


class ArtifactError(ModelError, ValueError):
    """A model file that is not a valid, untampered ekjon match-model artifact."""
