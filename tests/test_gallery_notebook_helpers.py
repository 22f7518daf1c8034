"""use_django_project: the gallery's apps become importable, course_lib stays free of Django."""

from __future__ import annotations

import subprocess
import sys

import pytest

from course_lib import notebook
from course_lib.paths import PROJECT_ROOT


def test_use_django_project_puts_the_project_on_the_path_once(monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "django_project" not in p])
    folder = notebook.use_django_project()
    assert folder == PROJECT_ROOT / "django_project" and (folder / "manage.py").is_file()
    assert sys.path[0] == str(folder)
    notebook.use_django_project()
    assert sys.path.count(str(folder)) == 1


def test_use_django_project_explains_a_missing_project(tmp_path, monkeypatch):
    import course_lib.paths

    monkeypatch.setattr(course_lib.paths, "PROJECT_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match="manage.py is missing"):
        notebook.use_django_project()


def test_course_lib_never_imports_django():
    code = (
        "import sys, course_lib.notebook, course_lib.recipes; "
        "course_lib.notebook.use_django_project(); "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
