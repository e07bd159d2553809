"""The package's random number generator: manual_seed fixes initialisation, dropout and sampling."""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Re-seed the global generator (NumPy's PCG64) so that runs repeat exactly."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    return _generator
