"""The core and the service on a real database (flow, commands, lifecycle, limits,
identities), and the architecture."""
