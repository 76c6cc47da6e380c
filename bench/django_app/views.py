"""The two views the Django scenarios measure."""

from django.http import JsonResponse
from django.shortcuts import render

from .models import World

ROWS = [{"id": i, "name": f"row {i} <&>", "value": i * 31 % 97} for i in range(1, 21)]
QUERY_ID = 42  # one fixed row: every server answers the same bytes


def template(request):
    return render(request, "table.html", {"title": "Twenty rows", "rows": ROWS})


def query(request):
    w = World.objects.get(pk=QUERY_ID)
    return JsonResponse({"id": w.id, "randomNumber": w.randomnumber})
