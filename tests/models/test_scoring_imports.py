"""Scoring with a saved model needs neither scikit-learn nor SciPy's statistics: `ekjon match` and
`ekjon serve` load the shipped model and score pairs in a process that never imports them (about a
second of a cold `ekjon match`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_saved_model_scores_and_explains_without_importing_scikit_learn() -> None:
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import pandas as pd
        import models
        from models.artifacts import DEFAULT_ARTIFACT

        model = models.load(DEFAULT_ARTIFACT)
        X = pd.DataFrame(np.full((3, len(model.feature_names)), 0.5), columns=model.feature_names)
        p = model.predict_proba(X)[:, 1]
        assert ((p >= 0) & (p <= 1)).all()
        model.explain(X)
        print(",".join(m for m in ("sklearn", "scipy.stats") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"imported while scoring: {done.stdout.strip()}"


def test_the_estimators_are_still_importable_from_the_package() -> None:
    from models import FellegiSunter, PairClassifier
    from models.classifier import PairClassifier as Direct

    assert PairClassifier is Direct
    assert FellegiSunter.__name__ == "FellegiSunter"
