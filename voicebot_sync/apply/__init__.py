"""Carrying out a Plan: the throttled, journalled executor and the stop signal."""
