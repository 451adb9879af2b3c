"""The Wiro simulator: sandbox mode and the tests' Wiro double."""
