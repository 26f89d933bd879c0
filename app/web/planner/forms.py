from flask_wtf import FlaskForm
from wtforms import HiddenField


class DoneForm(FlaskForm):
    """Mark an assignment done ("1") or not done ("0"); ``next`` is the page to go back to."""

    done = HiddenField()
    next = HiddenField()
