"""Notifications: rendering messages, sending them by channel, and delivering them for job events."""
