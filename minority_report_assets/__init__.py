"""Minority reports: sales anomalies detected, shaped and matched to known patterns every tick."""
