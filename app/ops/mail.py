"""E-mail over the SMTP settings the alerts use (SMTP_HOST, SMTP_PORT, ...): alerts and password resets."""
from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage


def smtp_configured(config: Mapping) -> bool:
    return bool(config.get("SMTP_HOST"))


def send_email(config: Mapping, to: list[str], subject: str, body: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.get("SMTP_FROM") or "canvasflow@localhost"
    message["To"] = ", ".join(to)
    message.set_content(body)
    with smtplib.SMTP(config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25), timeout=10) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)
