from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField, URLField
from wtforms.validators import DataRequired, Length, Optional


class CanvasForm(FlaskForm):
    base_url = URLField("Canvas address", validators=[DataRequired(), Length(max=500)],
                        description="For example https://school.instructure.com")
    # Never pre-filled: the page shows only the last four characters of a saved token.
    token = PasswordField("Access token", validators=[Optional(), Length(max=500)],
                          description="Canvas → Account → Settings → New access token")
    submit = SubmitField("Check and save")


class DisconnectForm(FlaskForm):
    submit = SubmitField("Remove token")


class CalendarRegenerateForm(FlaskForm):
    submit = SubmitField("Make a new address")


class CalendarTurnOffForm(FlaskForm):
    submit = SubmitField("Turn the feed off")
