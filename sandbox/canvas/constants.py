"""Id bases and fixed ids shared by the sandbox's data modules."""
from __future__ import annotations

SELF_USER_ID = 1
STUDENT_ID_BASE = 2001
COURSE_ID_BASE = 101
GROUP_ID_BASE = 501
ASSIGNMENT_ID_BASE = 10001
SUBMISSION_ID_BASE = 1_000_001
TOPIC_ID_BASE = 70001
ENTRY_ID_BASE = 80001
ACCOUNT_ID = 1
