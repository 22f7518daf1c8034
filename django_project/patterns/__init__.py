"""The pattern studio: procedural images from course_lib.patterns, previewed live and stored."""
