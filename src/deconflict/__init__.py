"""deconflict: open airspace de-confliction between independent parties.

    >>> import deconflict
    >>> states = deconflict.read_states("snapshot.csv")
    >>> conflicts = deconflict.detect(states, lookahead=300, hsep=9260, vsep=304.8)
    >>> conflicts.to_pandas()
"""

__all__ = [
    "Conflicts", "DeconflictError", "DetectionError", "States", "detect", "detect_all_pairs", "read_states",
    "read_states_checked", "StatesFileError", "UnitError", "parse_distance", "parse_duration", "parse_speed",
    "from_pandas",
]
__version__ = "0.1.0"

# Everything is imported on first use, so that `import deconflict` (and `deconflict --help`) does not load
# numpy, numba and pyarrow until a function needs them.
_HOMES = {
    "Conflicts": "deconflict.core.detection", "DetectionError": "deconflict.core.detection",
    "detect": "deconflict.core.detection", "detect_all_pairs": "deconflict.core.detection",
    "States": "deconflict.core.states", "UnitError": "deconflict.core.units",
    "parse_distance": "deconflict.core.units", "parse_duration": "deconflict.core.units",
    "parse_speed": "deconflict.core.units", "DeconflictError": "deconflict.errors",
    "read_states": "deconflict.io.states_file", "read_states_checked": "deconflict.io.states_file",
    "StatesFileError": "deconflict.io.states_file", "from_pandas": "deconflict.io.tables",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'deconflict' has no attribute {name!r}")
    import importlib

    if name == "from_pandas":  # States and the rejected rows of a DataFrame (SPEC §2, OpenSky or traffic columns)
        return importlib.import_module(home).states_from_pandas
    return getattr(importlib.import_module(home), name)
