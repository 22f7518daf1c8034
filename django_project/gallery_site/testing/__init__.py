"""Test helpers shared by the three apps' test suites (never imported by the site itself)."""
