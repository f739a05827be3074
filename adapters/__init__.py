"""The composition root and the platforms: settings, server, CLI, console, Slack, Teams."""
