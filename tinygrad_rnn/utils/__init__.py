"""torch.utils's counterparts: data (Dataset, DataLoader, ...)."""
from . import data  # noqa: F401
