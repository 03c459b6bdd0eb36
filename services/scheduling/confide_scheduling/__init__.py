"""Confide scheduling service: availability, appointments, recurring series, waitlist, reminders,
intake screening and the session lifecycle (check-in, start, complete, no-show)."""
