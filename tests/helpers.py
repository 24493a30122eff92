"""Paths and small builders shared by the tests."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def fixture_path(name: str) -> str:
    return os.path.join(FIXTURES, name)
