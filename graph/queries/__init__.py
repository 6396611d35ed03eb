"""The analysts' questions, as plain functions over any :class:`~graph.store.GraphStore`.

Each takes the store first and runs the same on the embedded store and on Neo4j: whole-graph
questions are DataFrame joins over the store's ``nodes`` / ``edges`` tables, questions about one
person walk ``neighbours``. Values must be cleaned first (``engine.normalise``); the graph does not
import the engine.

=======================  ==================================================================
function                 question
=======================  ==================================================================
programmes_of            which programmes does this person (record, NID, phone...) receive?
double_dipping           who holds programmes the policy says they may not hold together?
suspicious_identifiers   which wallets / phones are used by several persons, not one household?
reference_checks         which records disagree with the EC, BTRC, MFS KYC and BDRIS extracts?
coverage                 which poor households receive nothing, which well-off ones receive?
neighbourhood            what surrounds this node? (``draw_neighbourhood`` draws it)
=======================  ==================================================================

Whole-graph queries read the store's tables through a :class:`GraphTables`; pass one to several
queries (``tables=``) to read each table once for all of them.
"""

from __future__ import annotations

from graph.queries._common import GraphTables
from graph.queries.coverage import COVERAGE_COLUMNS, coverage
from graph.queries.double_dipping import (
    DOUBLE_DIPPING_COLUMNS,
    RULES,
    active_enrolments,
    double_dipping,
)
from graph.queries.evaluate import Evaluation, evaluate_findings
from graph.queries.neighbourhood import draw_neighbourhood, neighbourhood
from graph.queries.programmes import ProgrammesOf, programmes_of
from graph.queries.reference_checks import CHECKS, REFERENCE_COLUMNS, reference_checks
from graph.queries.suspicious import SUSPICIOUS_COLUMNS, RiskWeights, suspicious_identifiers

__all__ = [
    "CHECKS",
    "COVERAGE_COLUMNS",
    "DOUBLE_DIPPING_COLUMNS",
    "REFERENCE_COLUMNS",
    "RULES",
    "SUSPICIOUS_COLUMNS",
    "Evaluation",
    "GraphTables",
    "ProgrammesOf",
    "RiskWeights",
    "active_enrolments",
    "coverage",
    "double_dipping",
    "draw_neighbourhood",
    "evaluate_findings",
    "neighbourhood",
    "programmes_of",
    "reference_checks",
    "suspicious_identifiers",
]
