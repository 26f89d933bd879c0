"""Operations: logs, metrics, health, alerts, maintenance and the dashboard's numbers.

Nothing here imports the web layer; app/web/ops serves /healthz and /metrics, and the
admin dashboard reads app/ops/stats.py.
"""
