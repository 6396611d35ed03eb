"""The synthetic multi-MIS world: a realistic Bangladesh population, the programme MISs, the
household survey and the reference registries that describe it, each with its mapping, and the
ground truth.

``ekjon synth --persons N --seed S --out DIR`` calls :func:`generate_world`.
"""

from __future__ import annotations

from synth.enrolment import CODES as PROGRAMME_CODES
from synth.enrolment import PROGRAMMES, PlantRates
from synth.tags import Tag
from synth.truth import CASH_CAP, CASH_PROGRAMMES, EXCLUSIVE_PAIRS, ONE_PER_HOUSEHOLD
from synth.world import STEPS, WorldParameters, WorldSummary, generate_world

__all__ = [
    "CASH_CAP",
    "CASH_PROGRAMMES",
    "EXCLUSIVE_PAIRS",
    "ONE_PER_HOUSEHOLD",
    "PROGRAMMES",
    "PROGRAMME_CODES",
    "STEPS",
    "PlantRates",
    "Tag",
    "WorldParameters",
    "WorldSummary",
    "generate_world",
]
