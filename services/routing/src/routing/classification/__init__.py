"""The text classifier in force, described over HTTP."""
