"""Teams: activities through botbuilder with tokens from a fake issuer, a fake Bot Connector."""
