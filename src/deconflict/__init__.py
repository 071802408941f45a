"""deconflict: open airspace de-confliction between independent parties.

    >>> import deconflict
    >>> states = deconflict.read_states("snapshot.csv")
    >>> conflicts = deconflict.detect(states, lookahead=300, hsep=9260, vsep=304.8)
    >>> conflicts.to_pandas()
"""

from deconflict.core.detection import Conflicts, DetectionError, detect, detect_all_pairs
from deconflict.core.states import States
from deconflict.core.units import parse_distance, parse_duration, parse_speed

__all__ = [
    "Conflicts", "DetectionError", "States", "detect", "detect_all_pairs", "read_states",
    "parse_distance", "parse_duration", "parse_speed",
]
__version__ = "0.1.0"


def __getattr__(name: str):  # read_states lives in io/, imported on first use to keep core light
    if name == "read_states":
        from deconflict.io.states_file import read_states

        return read_states
    raise AttributeError(name)
