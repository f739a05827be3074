"""Microsoft Teams through the Bot Framework SDK (botbuilder ``CloudAdapter``).

Every ``botbuilder`` import stays in this package: the SDK is archived upstream, and moving to
its successor (the Microsoft 365 Agents SDK) should be this folder's work only.
"""
