from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SubmitField, URLField
from zoneinfo import available_timezones
from wtforms.validators import DataRequired, Length, Optional

try:  # WTForms 3.3 deprecates (value, label) tuples for SelectChoice
    from wtforms.fields import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)


class CanvasForm(FlaskForm):
    base_url = URLField("Canvas address", validators=[DataRequired(), Length(max=500)],
                        description="For example school.instructure.com (https:// is added)")
    # Never pre-filled: the page shows only the last four characters of a saved token.
    token = PasswordField("Access token", validators=[Optional(), Length(max=500)],
                          description="Canvas → Account → Settings → New access token")
    submit = SubmitField("Check and save")


class DisconnectForm(FlaskForm):
    submit = SubmitField("Remove token")


class ClassroomForm(FlaskForm):
    """Google Classroom: a bearer token (a user's OAuth2 access token or a service account's)."""

    api_url = URLField("Classroom API address", validators=[Optional(), Length(max=500)],
                       description="Leave as it is unless your school runs a proxy")
    token_kind = SelectField("Token", choices=[SelectChoice("oauth", "OAuth access token"),
                                               SelectChoice("service_account", "Service-account token")])
    # Never pre-filled: the page shows only the last four characters of a saved token.
    token = PasswordField("Access token", validators=[Optional(), Length(max=4000)])
    submit = SubmitField("Save Classroom")


class SchoologyForm(FlaskForm):
    """Schoology: two-legged OAuth 1.0a with a consumer key and secret (Schoology → API Credentials)."""

    base_url = URLField("Schoology API address", validators=[DataRequired(), Length(max=500)],
                        description="For example https://api.schoology.com/v1")
    consumer_key = PasswordField("Consumer key", validators=[Optional(), Length(max=500)])
    consumer_secret = PasswordField("Consumer secret", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Save Schoology")


class SourceActionForm(FlaskForm):
    """Pull now / disconnect: nothing but the CSRF token."""

    submit = SubmitField("Go")
class CalendarRegenerateForm(FlaskForm):
    submit = SubmitField("Make a new address")


class CalendarTurnOffForm(FlaskForm):
    submit = SubmitField("Turn the feed off")


ALARM_CHOICES = [("", "No reminder"), ("15", "15 minutes before"), ("60", "1 hour before"),
                 ("180", "3 hours before"), ("1440", "1 day before")]


def zone_choices() -> list:
    return [SelectChoice(name, name.replace("_", " ")) for name in sorted(available_timezones())
            if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))] + [SelectChoice("UTC", "UTC")]


class PreferencesForm(FlaskForm):
    """How dates are shown: the user's zone and clock, and the calendar feed's reminder."""

    time_zone = SelectField("Time zone", description="Every date is shown in this zone; a sync takes it "
                            "from your Canvas profile until you choose one here")
    clock = SelectField("Clock", choices=[SelectChoice("24", "24-hour (17:30)"), SelectChoice("12", "12-hour (5:30 pm)")])
    feed_alarm = SelectField("Calendar reminder", choices=[SelectChoice(v, label) for v, label in ALARM_CHOICES],
                             description="A reminder on each deadline in the calendar feed")
    submit = SubmitField("Save preferences")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone.choices = zone_choices()
