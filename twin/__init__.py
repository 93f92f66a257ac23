"""The Gwangju city twin: city model, store, scenarios, coupled runner, services, KPIs."""

from importlib.metadata import PackageNotFoundError, version

from twin.city import City, build_city
from twin.errors import InputError
from twin.store import open_city

try:
    __version__ = version("gwangju-twin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["City", "InputError", "__version__", "build_city", "open_city"]
