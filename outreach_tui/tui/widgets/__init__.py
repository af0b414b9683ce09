"""Widgets of the wizard: one container per step, the export panel, and small helpers."""
