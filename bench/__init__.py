"""``make bench``: the course's speed and quality bars, measured side by side on this machine.

``python bench/run.py --help`` lists the options; the report lands in ``bench/REPORT.md``.
"""
