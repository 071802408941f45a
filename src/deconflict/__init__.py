"""deconflict: open airspace de-confliction between independent parties.

    >>> import deconflict
    >>> states = deconflict.read_states("snapshot.csv")
    >>> conflicts = deconflict.detect(states, lookahead=300, hsep=9260, vsep=304.8)
    >>> conflicts.to_pandas()
"""

from deconflict.core.detection import Conflicts, DetectionError, detect, detect_all_pairs
from deconflict.core.states import States
from deconflict.core.units import UnitError, parse_distance, parse_duration, parse_speed

__all__ = [
    "Conflicts", "DetectionError", "States", "detect", "detect_all_pairs", "read_states", "read_states_checked",
    "StatesFileError",
    "UnitError", "parse_distance", "parse_duration", "parse_speed",
]
__version__ = "0.1.0"


_FROM_IO = {"read_states", "read_states_checked", "StatesFileError"}


def __getattr__(name: str):  # file reading lives in io/ (pyarrow, pandas): imported on first use
    if name in _FROM_IO:
        from deconflict.io import states_file

        return getattr(states_file, name)
    raise AttributeError(f"module 'deconflict' has no attribute {name!r}")
