"""A faithful local Voicebot workflow API, for tests, demos and offline CI.

``core`` holds the state and the rules (and the faults it can be told to show);
``server`` puts it on the wire. It shares nothing with ``api/`` but the wire
format, so each checks the other.
"""

from .core import FAULT_OPTIONS, LIST_SHAPES, RETRY_AFTER_FORMATS, Emulator, Response  # noqa: F401
from .server import local_transport, main_serve, make_wsgi_app, running, serve  # noqa: F401
