"""Preloaded by the Dask workers ARCO Forge starts: keeps library chatter off the terminal.

Beam logs a warning on the root logger at import when optional Google client
libraries are missing; raising the root level first keeps worker output to
errors.
"""

import logging

logging.getLogger().setLevel(logging.ERROR)
