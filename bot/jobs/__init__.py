"""The job lifecycle: the service, its contracts, the Wiro stage, delivery, follow-ups."""
