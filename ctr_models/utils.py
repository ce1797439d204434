"""DeepCTR's ``deepctr.utils``: the version check, offline.

DeepCTR's ``check_version`` starts a thread that downloads the package's release list from PyPI
and logs when a newer release exists (``deepctr/__init__.py`` calls it on import). ctr_models never
contacts the network and nothing runs on import: ``check_version(version)`` only compares the
given version with the ctr_models installed here, logs a warning when it is older and returns
whether it is current. Upgrades come with the pinned stack (constraints.txt), not from an index.
"""
import logging

from packaging.version import Version

from .version import __version__ as installed

logger = logging.getLogger(__name__)


def check_version(version):
    """True when `version` is at least the installed ctr_models version (no network access)."""
    if Version(str(version)) < Version(installed):
        logger.warning("ctr_models version %s requested a check; the installed version is %s.",
                       version, installed)
        return False
    return True
