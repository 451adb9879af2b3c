"""Shared fixtures. Tests never touch the network beyond loopback, and never read ../shared/."""
