from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SubmitField, URLField
from wtforms.validators import DataRequired, Length, Optional

try:  # WTForms 3.3 deprecates (value, label) tuples for SelectChoice
    from wtforms.fields import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)


class CanvasForm(FlaskForm):
    base_url = URLField("Canvas address", validators=[DataRequired(), Length(max=500)],
                        description="For example https://school.instructure.com")
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
