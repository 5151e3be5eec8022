"""`--cluster`: the batch on Ray Data (the optional extra `pip install -e '.[cluster]'`)."""

from __future__ import annotations

from engine.errors import AlbertLensError

INSTALL_HINT = "pip install -e '.[cluster]'"


class RayMissingError(AlbertLensError):
    """`--cluster` without Ray installed."""


def require_ray() -> None:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissingError(
            "--cluster needs Ray, which is not installed here: "
            f"{INSTALL_HINT} (or pip install 'ray[data]==2.60.0'); without --cluster the batch "
            "runs on this machine") from None
