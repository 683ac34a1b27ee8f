"""The Meridian Courier: the demo news site that the consent middleware wraps."""
