"""Background jobs inside ``kaizen serve``: the inbox, delivery, the digest scheduler and
housekeeping, and the loop helpers they share."""
