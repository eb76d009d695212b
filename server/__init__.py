"""The Lotería Nacional central: ``python -m server`` (see server/README.md)."""
