"""URLs of the bench's Django project."""

from django.urls import path

from . import views

urlpatterns = [
    path("template", views.template),
    path("query", views.query),
]
