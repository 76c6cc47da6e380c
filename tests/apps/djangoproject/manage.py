#!/usr/bin/python3
"""manage.py for the test project; run as `/usr/bin/python3 tests/apps/djangoproject/manage.py migrate`."""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
