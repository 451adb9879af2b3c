"""The moderators' console: `/videoadmin` and its words."""
