"""Screens: the wizard and its modals."""
