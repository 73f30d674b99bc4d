"""Incidents: alerts correlated into incidents, storm control, feedback and KPIs (issue 15)."""
