"""The one error of dependency preparation.

::

    Exception
     └── DependencyError   what failed and what to do; raised for unreadable sources, an
                           installer that is missing or failed, a package with no wheel for
                           Lambda's platform, and a cache directory that cannot be written
"""

from __future__ import annotations

__all__ = ["DependencyError"]


class DependencyError(Exception):
    """A function's dependencies cannot be prepared; the message says what to do."""
