"""The composition root: the Bot subclass, building the services, start-up and shut-down."""
