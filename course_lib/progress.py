"""Progress bars for long work: ``tqdm.auto`` bars whose saved notebook text ends finished.

Its own small module because training loops and the metrics' digit judge both show one, and
neither should import the other for it.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "tqdm"]


def _notebook_bar() -> bool:
    """Whether ``tqdm.auto`` chose the Jupyter widget bar (it decides once, at import)."""
    from tqdm.notebook import tqdm_notebook

    return issubclass(tqdm, tqdm_notebook)


class _FinishingBar(tqdm):
    """``tqdm.auto`` whose text in a saved notebook is the finished bar, not the first "0%".

    Jupyter stores a widget's text form as it was when the widget was shown; GitHub and
    nbviewer show only that text. This bar is shown with a display id and shown again when it
    closes, so the saved notebook says how far it got and how long it took.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handle = None
        notebook = _notebook_bar()
        if notebook:
            kwargs["display"] = False
        super().__init__(*args, **kwargs)
        if notebook and not self.disable:
            from IPython.display import display

            self._handle = display(self.container, display_id=True)

    def close(self) -> None:
        super().close()
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            handle.update(self.container)


def progress_bar(iterable: Any = None, **kwargs: Any) -> tqdm:
    """A ``tqdm.auto`` progress bar (same arguments) whose saved notebook text ends finished."""
    return _FinishingBar(iterable, **kwargs)
