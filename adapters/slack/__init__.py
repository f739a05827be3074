"""Slack: a slack-bolt ``AsyncApp`` mounted on our aiohttp server (or Socket Mode).

Every ``slack_bolt`` / ``slack_sdk`` import stays in this package.
"""
