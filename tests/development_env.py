"""A pytest plugin (loaded by ``-p`` in pyproject's addopts, before Django's settings are read): the
suite runs in development mode, DEBUG on, since the settings default to production (DEBUG off).

``setdefault``: an explicit DEBUG in the environment still wins. Child processes the tests start
(``manage.py`` commands, ``qcluster``, ``rundev``) inherit it; tests of the real default
(tests/test_settings.py) remove it from their children's environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "on")
