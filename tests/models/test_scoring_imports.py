"""Scoring with a saved model needs neither scikit-learn nor SciPy: `ekjon match` and `ekjon serve`
load the shipped model and score pairs in a process that never imports them (about a second of a
cold `ekjon match`)."""

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
        print(",".join(m for m in ("sklearn", "scipy") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"imported while scoring: {done.stdout.strip()}"


def test_the_one_record_resolver_imports_without_scipy() -> None:
    """`ekjon match` imports the one-record resolver; SciPy (its clustering's connected
    components, a third of a second) is imported only when a batch clusters."""
    script = "import sys, engine.incremental; print('scipy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


def test_the_logistic_function_gives_scipys_values() -> None:
    """The same formula as SciPy's; the last bits may differ where NumPy's exp is its own SIMD
    code (on CPUs with AVX-512: up to 2 units in the last place here), never more."""
    import numpy as np
    from scipy.special import expit as scipy_expit

    from models.weights import expit

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 8, 200_000), np.linspace(-800, 800, 20_001)])
    np.testing.assert_array_max_ulp(expit(x), scipy_expit(x), maxulp=4)
    assert np.isnan(expit(np.array([np.nan])))[0]
    assert expit(-1000.0) == 0.0 and expit(1000.0) == 1.0 and expit(0.0) == 0.5
    small = x.astype(np.float32)  # other types: SciPy's own
    assert expit(small).dtype == np.float32
    assert np.array_equal(expit(small), scipy_expit(small), equal_nan=True)


def test_the_estimators_are_still_importable_from_the_package() -> None:
    from models import FellegiSunter, PairClassifier
    from models.classifier import PairClassifier as Direct

    assert PairClassifier is Direct
    assert FellegiSunter.__name__ == "FellegiSunter"
