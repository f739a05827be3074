"""The host: settings, the runtime (the composition root), the server and the CLI."""
