"""WSGI entry point of the blog example (wsgictl's app.wsgi imports `application` from here)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blog.settings")
application = get_wsgi_application()
