from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Note


@csrf_exempt  # a JSON endpoint for the tests, without a form to carry the token
def notes(request):
    """POST stores the body as a note; both methods answer with every note and
    the database in use."""
    if request.method == "POST":
        Note.objects.create(text=request.body.decode())
    return JsonResponse({"database": connection.vendor,
                         "notes": list(Note.objects.order_by("id").values_list("text", flat=True))})
