from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("hello/<str:name>/", views.hello),
    path("users/", views.users),
    path("contact/", views.contact),
    path("stream/", views.stream),
    path("count", views.count),
    path("admin/", admin.site.urls),
]
