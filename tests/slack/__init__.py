"""Slack: signed requests into the real server, a fake Web API, one normalizer test per payload."""
