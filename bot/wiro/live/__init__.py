"""`doctor --live`: one real run, recorded and checked against the bot's assumptions."""
