"""Reference data the normalisers read (districts, name variants): see README.md here."""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: This folder.
DATA_DIR: Final = Path(__file__).parent
