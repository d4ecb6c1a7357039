"""The session host: the one process that holds live WhatsApp connections.

Run it with ``python -m workers.session_host``. See ``host.SessionHost``.
"""
