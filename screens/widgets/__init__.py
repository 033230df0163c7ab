"""Widgets shared by the screens: live cluster panels, output log, step list, confirmations."""
