"""The seeded text of one lesson and its quiz, as the number-checking lesson tests read them."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "ja")


class SeedLesson:
    def __init__(self, slug: str):
        self.slug = slug

    def text(self, language: str) -> str:
        return (ROOT / "courses" / "seed" / language / f"{self.slug}.md").read_text(encoding="utf-8")

    def quiz(self, language: str) -> list[dict]:
        path = ROOT / "quizzes" / "seed" / language / f"{self.slug}.json"
        return json.loads(path.read_text(encoding="utf-8"))["questions"]

    def in_both(self, *snippets: str) -> None:
        """Every snippet stands in the lesson of both languages."""
        for language in LANGUAGES:
            text = self.text(language)
            for snippet in snippets:
                assert snippet in text, f"{language} lesson {self.slug} lacks {snippet!r}"
