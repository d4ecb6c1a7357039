"""The neonize transport: a real linked WhatsApp number, through neonize (whatsmeow in Go).

``mapping`` holds the pure functions (neonize's events and errors mapped to Kabar's),
``store`` the plaintext working copy of neonize's SQLite store and its snapshots (taken by
``store_snapshot.py`` in a process of its own), ``transport`` the NeonizeTransport itself.

Nothing is imported here: neonize loads only when a session asks for this transport
(``workers.session_host.transports.transport_class``).
"""
