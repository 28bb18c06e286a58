"""Runs sources on their schedules (see the scheduler issue); empty for now."""
