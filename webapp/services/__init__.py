"""Business rules, shared by the API, the admin pages and the workers; no Flask requests here."""
