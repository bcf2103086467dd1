"""Schedules: when they are due, their EventBridge Scheduler mirror, and firing them."""
