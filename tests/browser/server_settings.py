"""Settings for the gallery when the browser tests run it as real processes.

The style studio test starts ``manage.py runserver`` and ``manage.py db_worker`` on one
temporary SQLite file (``GALLERY_DB``), with media in ``GALLERY_MEDIA_ROOT``. Everything comes
from the project's settings; only the style training is cut from 45 s to a few seconds, so the
upload flow reaches "done" quickly while still going through the real worker.
"""

from gallery_site.settings import *  # noqa: F403

STYLE_TRAINING_SECONDS = 3
