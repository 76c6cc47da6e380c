"""The table bench.py fills: 100 rows of (id, randomnumber)."""

from django.db import models


class World(models.Model):
    id = models.IntegerField(primary_key=True)
    randomnumber = models.IntegerField()

    class Meta:
        db_table = "world"
        managed = False  # bench.py creates it; no migrations
