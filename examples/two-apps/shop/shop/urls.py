import hashlib
import os

from django.http import HttpResponse
from django.urls import path


def index(request):
    """Report this process's settings module, and whether a blog variable leaked in."""
    secret_id = hashlib.sha256(os.environ["DJANGO_SECRET_KEY"].encode()).hexdigest()[:12]
    body = (
        f"shop: settings={os.environ.get('DJANGO_SETTINGS_MODULE')}\n"
        f"secret-sha256: {secret_id}\n"
        f"blog-greeting-visible: {'BLOG_GREETING' in os.environ}\n"
    )
    return HttpResponse(body, content_type="text/plain")


urlpatterns = [path("", index)]
