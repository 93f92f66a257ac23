"""The Gwangju city twin: city model, store, scenarios, coupled runner, services, KPIs."""

from importlib.metadata import PackageNotFoundError, version

from twin.city import City, build_city, open_city
from twin.errors import InputError, ModelHealthError
from twin.scenario import Scenario

try:
    __version__ = version("gwangju-twin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "City",
    "Evaluation",
    "InputError",
    "ModelHealthError",
    "RunResult",
    "Scenario",
    "__version__",
    "build_city",
    "evaluate",
    "open_city",
    "run",
    "run_ensemble",
]


def __getattr__(name: str):
    # the runner pulls in every model: import it on first use, not with `import twin`
    if name in ("run", "RunResult"):
        from twin import runner

        return getattr(runner, name)
    if name in ("evaluate", "Evaluation"):
        from twin import evaluation

        return getattr(evaluation, name)
    if name == "run_ensemble":  # imports ray (extra "ray") only when called for
        from twin import distributed

        return distributed.run_ensemble
    raise AttributeError(f"module 'twin' has no attribute {name!r}")
