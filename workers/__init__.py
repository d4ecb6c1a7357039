"""Everything that runs outside the web process: broker, actors, session host, transports."""
