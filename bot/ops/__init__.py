"""Operator tools: doctor, doctor --live, backups, publishing the command tree."""
