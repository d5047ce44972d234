import hashlib
import os

from django.http import HttpResponse


def index(request):
    """Show which settings and environment this process runs with (never a secret itself)."""
    secret_id = hashlib.sha256(os.environ.get("DJANGO_SECRET_KEY", "").encode()).hexdigest()[:12]
    lines = [
        "blog: hello from Django under mod_wsgi",
        f"settings: {os.environ.get('DJANGO_SETTINGS_MODULE')}",
        f"greeting: {os.environ.get('BLOG_GREETING', '')}",
        f"secret-sha256: {secret_id}",
        f"pid: {os.getpid()}",
        f"scheme: {request.scheme}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")
