#!/usr/bin/env python3
"""The README's Django project (tests/image/test_recipes.py builds its image):
`wsginit --python manage.py migrate` runs this in the image."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
