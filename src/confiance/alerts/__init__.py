"""Alerts as recipients see them, once opened from what the runtime sealed."""

from confiance.alerts.model import Alert, open_alert

__all__ = ["Alert", "open_alert"]
