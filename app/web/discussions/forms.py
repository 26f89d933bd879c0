from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

MAX_BODY = 50_000


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[DataRequired(message="Write something before posting."),
                                                   Length(max=MAX_BODY)])
    submit = SubmitField("Post reply")


class TopicForm(FlaskForm):
    """A new topic, or an edit of one (the same two fields)."""

    title = StringField("Title", validators=[DataRequired(message="Give the topic a title."), Length(max=500)])
    body = TextAreaField("Text", validators=[Optional(), Length(max=MAX_BODY)])
    submit = SubmitField("Save")


class EditPostForm(FlaskForm):
    body = TextAreaField("Text", validators=[DataRequired(message="A post cannot be empty."), Length(max=MAX_BODY)])
    submit = SubmitField("Save")


class LinkForm(FlaskForm):
    category_id = IntegerField("Discourse category id", validators=[
        InputRequired(message="Give the number of the Discourse category."),
        NumberRange(min=1, max=2**31 - 1, message="A Discourse category id is a whole number from 1 up.")],
        description="In Discourse: the number in the category's address, e.g. /c/biology/12 -> 12")
    submit = SubmitField("Link")


class RetryForm(FlaskForm):
    """Only the CSRF token: a failed delivery tried again."""
