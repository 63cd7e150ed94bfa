"""Read-side helpers other apps use (the quizzes helper fills these in)."""


def quiz_status_for_user(user, lessons) -> dict:
    """{lesson_id: {"quiz": Quiz, "best_score": int|None, "latest_score": int|None, "passed": bool, "attempts": int}}"""
    return {}
