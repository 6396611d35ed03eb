"""Match models: comparison features -> match probability. Imports no other ekjon package."""
