import threading

from django import forms
from django.contrib.auth.models import User
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

SEEN = [0]  # requests that reached Django in this worker
SEEN_LOCK = threading.Lock()


def count_requests(get_response):
    """Middleware: counts every request Django sees, so a test can tell that
    STATIC_MAP answered one without Django."""
    def middleware(request):
        with SEEN_LOCK:
            SEEN[0] += 1
        return get_response(request)
    return middleware


def count(request):
    """Requests Django has seen in this worker, this one included (wire.count reads it)."""
    return HttpResponse(str(SEEN[0]), content_type="text/plain")


def index(request):
    return HttpResponse("django index", content_type="text/plain")


def hello(request, name):
    return JsonResponse({"hello": name, "path": request.path, "q": request.GET.get("q"),
                         "method": request.method, "script_name": request.META.get("SCRIPT_NAME")})


def users(request):
    """Reads the sqlite database (through the _sqlite3 extension module)."""
    return JsonResponse({"users": sorted(User.objects.values_list("username", flat=True))})


class ContactForm(forms.Form):
    name = forms.CharField(max_length=50)
    message = forms.CharField(widget=forms.Textarea)


def contact(request):
    """A form protected by CsrfViewMiddleware: GET renders it, POST validates it."""
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            return HttpResponse("thanks %s: %s" % (form.cleaned_data["name"], form.cleaned_data["message"]),
                                content_type="text/plain")
        return render(request, "contact.html", {"form": form}, status=400)
    return render(request, "contact.html", {"form": ContactForm()})


def stream(request):
    return StreamingHttpResponse(("chunk %d\n" % i for i in range(4)), content_type="text/plain")
