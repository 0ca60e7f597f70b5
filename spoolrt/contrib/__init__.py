"""Optional integrations with web frameworks and servers; each module imports only what it needs."""
